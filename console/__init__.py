"""The Textual console over the engine: ``wfe`` with no arguments opens it."""
