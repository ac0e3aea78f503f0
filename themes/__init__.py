"""The console's palettes (``*.toml``) and styles (``console.tcss``), shipped as package data."""
