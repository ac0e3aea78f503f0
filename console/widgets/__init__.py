"""Widgets the console's screens share, one a module."""
