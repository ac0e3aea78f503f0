"""``wfe bench``: the seed's performance figures measured here, beside a floor.

Every scenario runs on a fresh temporary store (or on an empty database named with
``--db``), several times; the report gives the median with the min and max. The floor is
the throughput scenario's work done the most direct way (trio tasks and plain ``sqlite3``
batched writes) in the same process, so ratios hold on a noisy machine.

    scenarios.py  the engine's scenarios, and the run
    floor.py      the floors the scenarios are measured against
    dashboard.py  a million executions, and the dashboard's queries on them
    workers.py    real ``wfe worker`` processes
    results.py    the report and its table
"""

from engine.bench.results import Report, Result, format_table
from engine.bench.scenarios import run
from engine.bench.workers import workers

__all__ = ["Report", "Result", "format_table", "run", "workers"]
