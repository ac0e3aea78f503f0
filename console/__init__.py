"""The Textual console over the engine: ``wfe`` with no arguments opens it.

app.py        the App: themes, screens, the global keys, and what screens ask for
messages.py   what screens ask the App for (open, run, cancel, re-run, decide)
actions.py    how the App does it: the questions, then the work
services.py   what screens are handed: store queries off the UI thread, the engine
host.py       the trio executor, hosted in guest mode on Textual's loop
screens/      one view a module;  modals/  one question a module
widgets/      the pieces screens share
main.py       ``run(url)``: the entry point ``wfe`` calls, and the console's log
"""
