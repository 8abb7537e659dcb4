"""vagus: BLE wearables through numba DSP and Kafka to closed-loop calming sessions."""

#: The source tree's version, for when the distribution is not installed (keep in step with
#: pyproject.toml; `vagus --version` prefers the installed distribution's metadata).
__version__ = "0.1.0"
