"""Pure numeric code, in subpackages by concept: filters (the base), ecg, hrv, eda, activity,
sleep and stress. Each subpackage's __init__ lists its public surface; docs/architecture.md
gives the direction their imports may take (tests/test_architecture.py holds it)."""
