"""Device kinds: one class per kind of wearable, and the registry that names them."""
