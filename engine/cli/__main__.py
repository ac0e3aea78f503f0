"""``python -m engine.cli``: the ``wfe`` command."""

from engine.cli.main import main

main(prog_name="wfe")
