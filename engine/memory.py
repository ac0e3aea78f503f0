"""This process's memory, as ``wfe health``, the console and the bench report it."""

from __future__ import annotations

import os


def rss_bytes() -> int:
    """This process's resident memory now (not its peak)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource  # no /proc: the peak is what the system tells

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
