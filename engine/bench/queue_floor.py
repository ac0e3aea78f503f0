"""One queue-floor process: ``python -m engine.bench.queue_floor URL BATCH``.

Drains the queued executions of the database at URL the most direct way its driver
allows (the dialect's ``queue_floor``), BATCH at a time, until it is sent SIGTERM; it
prints ``ready`` once connected.
"""

from __future__ import annotations

import sys

from engine.store import dialects


def main(argv: list[str]) -> int:
    url, batch = argv
    dialects.for_url(url).queue_floor(int(batch), lambda: print("ready", flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
