"""vagus."""
