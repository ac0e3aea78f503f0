"""``C`` on the dashboard: the whole store over the last hour (``H``: the last day).

Four charts with axes (Plotext, through ``textual-plotext``): executions finished per
bucket split by outcome, steps per second, the queue and what runs, every runner
included (:mod:`engine.store.trends` says how the last two are worked out). Each
chart's title says its current value and its peak, so it reads with NO_COLOR too,
where the outcomes' colours do not show.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from functools import partial

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid
from textual.widgets import Static
from textual_plotext import PlotextPlot

from console.screens.base import View
from console.services import Services
from console.widgets.key_bar import KeyBar
from console.widgets.title import Title
from engine import store

REFRESH = {1: 5.0, 24: 60.0}  # seconds between reads: a bucket is a minute, or 20


def plot_colour(value: str | None) -> str | tuple[int, int, int]:
    """A theme colour as Plotext takes it: an RGB triple, or a name for ANSI colours."""
    if not value:
        return "default"
    if value.startswith("ansi_"):
        name = value.removeprefix("ansi_")
        if name.startswith("bright_"):
            return name.removeprefix("bright_") + "+"
        return "default" if name == "default" else name
    if value.startswith("#") and len(value) >= 7:
        return (int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16))
    return "default"


def ticks(charts: store.Charts, count: int = 4) -> tuple[list[int], list[str]]:
    """Where the x axis is labelled (bucket numbers) and with what local time (each
    bucket's start: the last is the one under way)."""
    n = len(charts.succeeded)
    places = [round(i * (n - 1) / (count - 1)) for i in range(count)]
    fmt = "%H:%M"
    labels = [
        (charts.start + timedelta(seconds=p * charts.bucket)).astimezone().strftime(fmt)
        for p in places
    ]
    return places, labels


def y_ticks(top: float) -> list[float]:
    """Round numbers from 0 to at least ``top``: 0 1 2, 0 5 10, 0 250 500 …"""
    top = max(top, 1.0)
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10_000):
        if top / step <= 4:
            break
    else:
        step = 10 ** len(str(int(top / 4)))
    count = int(-(-top // step))
    return [float(i * step) for i in range(count + 1)]


def numbers(values: Sequence[float]) -> str:
    now, peak = values[-1] if values else 0, max(values, default=0)
    return f"now {now:,.0f}, peak {peak:,.0f}"


class ChartsScreen(View):
    BINDINGS = [
        Binding("escape,backspace,C", "back", "Back", id="charts.back"),
        Binding("H", "toggle_hours", "Hour/day", id="charts.hours"),
    ]

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        self.hours = 1
        self.shown: store.Charts | None = None

    def compose(self) -> ComposeResult:
        yield Title(self.services.context, "the whole store, every runner", classes="title")
        with Grid(id="charts"):
            for name in ("finished", "steps", "queued", "running"):
                plot = PlotextPlot(id=f"chart-{name}")
                plot.theme = "clear"  # the terminal's own colours: every theme, and NO_COLOR
                yield plot
        yield Static("", classes="hint", id="charts-about")
        yield KeyBar()

    def on_mount(self) -> None:
        self.refresh_data(force=True)
        self.set_interval(1.0, self._tick)
        self._waited = 0.0

    def _tick(self) -> None:
        self._waited += 1.0
        if self._waited >= REFRESH[self.hours]:
            self.refresh_data()

    def refresh_data(self, *, force: bool = False) -> None:
        if self.is_current or force:
            self._waited = 0.0
            query = partial(self.services.queries.charts, self.hours)
            self.load(partial(self.read, query, self._show), force=force)

    def _show(self, charts: store.Charts) -> None:
        self.shown = charts
        v = self.app.theme_variables
        window = "last hour, per minute" if self.hours == 1 else "last 24 hours, per 20 minutes"
        self.query_one(Title).update(f"the whole store, every runner: {window}")
        done = [
            a + b + c
            for a, b, c in zip(charts.succeeded, charts.failed, charts.cancelled, strict=True)
        ]
        per = "min" if charts.bucket == 60 else "20 min"
        self._draw(
            "finished",
            f"done/{per} ✓{charts.succeeded[-1]:,} ✗{charts.failed[-1]:,}"
            f" ⊘{charts.cancelled[-1]:,}, peak {max(done, default=0):,}",
            charts,
            stacked=[
                (charts.succeeded, "ok", v.get("success")),
                (charts.failed, "failed", v.get("error")),
                (charts.cancelled, "cancelled", v.get("warning")),
            ],
        )
        self._draw(
            "steps", f"steps/s: {numbers(charts.steps_per_second)}", charts,
            line=(charts.steps_per_second, v.get("primary")),
        )  # fmt: skip
        self._draw(
            "queued", f"queued: {numbers(charts.queued)}", charts,
            line=(charts.queued, v.get("accent")),
        )  # fmt: skip
        self._draw(
            "running", f"running: {numbers(charts.running)}", charts,
            line=(charts.running, v.get("primary")),
        )  # fmt: skip
        self.query_one("#charts-about", Static).update(
            "H: the last hour / the last 24 hours · read every "
            f"{REFRESH[self.hours]:g}s · C or Esc: back"
        )

    def _draw(
        self,
        name: str,
        title: str,
        charts: store.Charts,
        *,
        stacked: Sequence[tuple[list[int], str, str | None]] = (),
        line: tuple[Sequence[float], str | None] | None = None,
    ) -> None:
        plot = self.query_one(f"#chart-{name}", PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        x = list(range(len(charts.succeeded)))
        if stacked:
            plt.stacked_bar(
                x,
                [values for values, _label, _colour in stacked],
                color=[plot_colour(colour) for _v, _l, colour in stacked],  # type: ignore[arg-type]  # a colour per part (Plotext's types say one)
                width=1,
                minimum=0,
            )
        if line is not None:
            values, colour = line
            # Half blocks, not braille: every terminal font has them.
            plt.plot(x, list(values), color=plot_colour(colour), marker="hd")
        plt.title(title)
        places, labels = ticks(charts)
        plt.xticks([float(p) for p in places], labels)
        top = max(_tops(stacked, line), default=0)
        steps = y_ticks(top)
        plt.ylim(0, steps[-1])
        plt.yticks([float(t) for t in steps], [f"{t:,.0f}" for t in steps])
        plot.refresh()

    def copyable(self) -> tuple[str, str] | None:
        return None

    def action_back(self) -> None:
        self.dismiss()

    def action_toggle_hours(self) -> None:
        self.hours = 24 if self.hours == 1 else 1
        self.refresh_data(force=True)


def _tops(
    stacked: Sequence[tuple[list[int], str, str | None]],
    line: tuple[Sequence[float], str | None] | None,
) -> list[float]:
    tops: list[float] = []
    if stacked:
        tops.extend(float(sum(parts)) for parts in zip(*(v for v, _l, _c in stacked), strict=True))
    if line is not None:
        tops.extend(float(x) for x in line[0])
    return tops
