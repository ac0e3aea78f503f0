from __future__ import annotations

import pytest

from engine import definition


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(90, 90.0), ("1.5", 1.5), ("500ms", 0.5), ("10s", 10.0), ("1h30m", 5400.0), ("2d", 172800.0)],
)
def test_parse_duration_accepts_units(value: object, seconds: float) -> None:
    assert definition.parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["10x", "", "-5", True, "5 parsecs", -1])
def test_parse_duration_refuses_nonsense(value: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        definition.parse_duration(value)
