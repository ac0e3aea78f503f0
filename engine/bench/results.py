"""What a bench run reports: each scenario's samples, median, range and ratios."""

from __future__ import annotations

import os
import platform
import statistics
from dataclasses import dataclass, field
from typing import Any

# The product we replace published these.
SEED = {
    "throughput": 856.90,
    "large_workflow": 1167.0,
    "memory": 50.0,
}


@dataclass
class Result:
    name: str
    unit: str
    samples: list[float]
    seed: float | None = None
    target: str = ""
    higher_is_better: bool = True
    floor_ratio: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def vs_seed(self) -> float | None:
        if self.seed is None or not self.median:
            return None
        return self.median / self.seed if self.higher_is_better else self.seed / self.median

    def as_dict(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "median": self.median,
            "min": min(self.samples),
            "max": max(self.samples),
            "runs": len(self.samples),
            "seed": self.seed,
            "vs_seed": self.vs_seed,
            "floor_ratio": self.floor_ratio,
            "target": self.target,
            **self.extra,
        }


@dataclass
class Report:
    quick: bool
    results: list[Result]
    machine: str
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "quick": self.quick,
            "machine": self.machine,
            "seconds": self.seconds,
            "scenarios": {r.name: r.as_dict() for r in self.results},
        }


def machine() -> str:
    system = f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores"
    return f"{system}, Python {platform.python_version()}"


def format_table(report: Report, title: str | None = None) -> str:
    title = title or ("wfe bench --quick" if report.quick else "wfe bench")
    width = max([20, *(len(r.name) for r in report.results)])
    lines = [
        f"{title} on {report.machine} ({report.seconds:.0f} s)",
        "",
        f"{'scenario':<{width}} {'ours (median)':>16} {'min-max':>21} {'seed':>7} {'vs seed':>8}"
        f" {'floor':>6}  target",
    ]
    for r in report.results:
        ours = f"{r.median:,.1f} {r.unit}" if r.median < 100 else f"{r.median:,.0f} {r.unit}"
        span = f"{min(r.samples):,.1f}-{max(r.samples):,.1f}" if len(r.samples) > 1 else ""
        seed = f"{r.seed:,.0f}" if r.seed is not None else "-"
        vs = f"{r.vs_seed:,.1f}x" if r.vs_seed is not None else "-"
        floor = f"{r.floor_ratio:.0%}" if r.floor_ratio is not None else "-"
        notes = r.target
        if "p99_ms" in r.extra:
            notes += f" (p99 {r.extra['p99_ms']:.1f} ms)"
        if "max_queue_wait_ms" in r.extra:
            notes += (
                f" (peak {r.extra['peak_running']} running,"
                f" max wait {r.extra['max_queue_wait_ms']:.0f} ms)"
            )
        if "over_python_ms" in r.extra:
            notes += f" ({r.extra['over_python_ms']:,.0f} ms over python -c pass)"
        if "data_shown_ms" in r.extra:
            notes += f" (data shown at {r.extra['data_shown_ms']:,.0f} ms)"
        if "plain_spawns_per_s" in r.extra:
            notes += f" (plain: {r.extra['plain_spawns_per_s']:,.0f}/s)"
        lines.append(
            f"{r.name:<{width}} {ours:>16} {span:>21} {seed:>7} {vs:>8} {floor:>6}  {notes}"
        )
    return "\n".join(lines)
