"""Readers for recording formats made by other tools (WFDB/PhysioNet)."""
