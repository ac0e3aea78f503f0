"""Example workflows that run offline on a fresh machine, and the Python they call."""
