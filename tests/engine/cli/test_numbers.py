"""Every number from the command line is range-checked: a usage error, never an overflow."""

from __future__ import annotations

import pytest

from tests.support import Wfe

HUGE = "99999999999999999999"  # past 64 bits


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("executions", "show", HUGE), "Invalid value for 'EXECUTION_ID'"),
        (("logs", HUGE), "Invalid value for 'EXECUTION_ID'"),
        (("cancel", HUGE), "Invalid value for 'EXECUTION_ID'"),
        (("rerun", HUGE), "Invalid value for 'EXECUTION_ID'"),
        (("approve", HUGE, "gate"), "Invalid value for 'EXECUTION_ID'"),
        (("reject", HUGE, "gate"), "Invalid value for 'EXECUTION_ID'"),
        (("executions", "show", "0"), "Invalid value for 'EXECUTION_ID'"),
        (("executions", "list", "--offset", HUGE), "Invalid value for '--offset'"),
        (("workflow", "list", "--offset", HUGE), "Invalid value for '--offset'"),
        (("executions", "list", "--limit", HUGE), "Invalid value for '--limit'"),
        (("stats", "--since", f"{HUGE}d"), "is longer than a century"),
        (("prune", "--older-than", f"{HUGE}d"), "is longer than a century"),
        (("worker", "--concurrency", HUGE), "Invalid value for '--concurrency'"),
        (("worker", "--lease", f"{HUGE}s"), "is longer than a century"),
        (("worker", "--lease", "0s"), "a lease shorter than 1s"),
        (("worker", "--grace", "soon"), "is not a duration"),
        (("run", "w", "--max-parallel-steps", HUGE), "Invalid value for '--max-parallel-steps'"),
    ],
)
def test_numbers_out_of_range_are_usage_errors(wfe: Wfe, args: tuple[str, ...], says: str) -> None:
    result = wfe(*args)  # an exception escaping the command would fail the test here
    assert result.exit_code == 2, result.output
    assert says in result.stderr
    assert result.stdout == ""
