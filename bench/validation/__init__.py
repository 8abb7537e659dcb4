"""The checks behind bench/validate.py, one module per signal; each reads ../shared/data."""
