"""Every theme keeps text readable: at least 4.5:1 (WCAG AA) wherever the console draws text.

The ratios are measured on what Textual draws, not worked out beside it: a small app with
the console's own stylesheet and themes renders the parts text sits on (a focused and a
blurred table with zebra stripes, the selected row, headers, hints, a placeholder, status
colours, buttons, the key bar, a question and the help screen), and every cell of text in
the frame is checked against the cell's own background. So a theme file, a rule in
``console.tcss`` and Textual's defaults beneath them are all in the sum.

wfe-ansi names the terminal's colours; they are measured in xterm's default palette, with
the terminal's default pair taken as the theme's ``ansi-foreground`` on ``ansi-background``
(the dark terminal it is drawn for). Faint text is up to the terminal: it is counted as
halfway from its colour to the background, about what xterm and VTE draw.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from rich.color import Color
from rich.segment import Segment
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.color import Color as TextualColor
from textual.theme import Theme
from textual.widgets import Button, DataTable, Input, Static

from console import format, palettes
from console.app import STYLESHEET
from console.modals.confirm import ConfirmModal
from console.modals.help import HelpScreen
from console.widgets.key_bar import KeyBar

AA = 4.5
THEMES = {theme.name: theme for theme in palettes.load_themes()}
# xterm's 16 colours (its XTerm-col.ad defaults), by ANSI number.
XTERM = [
    "#000000",
    "#cd0000",
    "#00cd00",
    "#cdcd00",
    "#0000ee",
    "#cd00cd",
    "#00cdcd",
    "#e5e5e5",
    "#7f7f7f",
    "#ff0000",
    "#00ff00",
    "#ffff00",
    "#5c5cff",
    "#ff00ff",
    "#00ffff",
    "#ffffff",
]
ANSI_NAMES = [
    "black",
    "red",
    "green",
    "yellow",
    "blue",
    "magenta",
    "cyan",
    "white",
]
STATUSES = ["succeeded", "failed", "timed_out", "cancelled", "running", "waiting", "queued"]


def luminance(hex_colour: str) -> float:
    """WCAG 2 relative luminance of ``#rrggbb``."""
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def xterm(name: str) -> str:
    """A Textual ANSI colour name (``ansi_bright_blue``) in xterm's palette."""
    bare = name.removeprefix("ansi_")
    bright = bare.startswith("bright_")
    return XTERM[ANSI_NAMES.index(bare.removeprefix("bright_")) + 8 * bright]


def default_pair(theme: Theme) -> tuple[str, str]:
    """What "the terminal's default" text and background are under ``theme``."""
    if theme.ansi:
        return xterm(theme.variables["ansi-foreground"]), xterm(theme.variables["ansi-background"])
    assert theme.foreground is not None and theme.background is not None
    return theme.foreground, theme.background


def resolve(colour: Color | None, default: str) -> str:
    if colour is None or colour.is_default:
        return default
    if colour.triplet is None and colour.number is not None and colour.number < 16:
        return XTERM[colour.number]
    return colour.get_truecolor().hex


def drawn(segment: Segment, theme: Theme) -> tuple[str, str]:
    """The text and background colours a terminal shows for ``segment``."""
    style = segment.style
    assert style is not None
    text_default, background_default = default_pair(theme)
    fg, bg = resolve(style.color, text_default), resolve(style.bgcolor, background_default)
    if style.reverse:
        fg, bg = bg, fg
    if style.dim:  # Textual has already blended faint truecolour text; a terminal does ANSI's
        fg = TextualColor.parse(fg).blend(TextualColor.parse(bg), 0.5).hex
    return fg, bg


def readable(text: str) -> bool:
    """Text a person reads, not a border, a scrollbar or a bar of the chart."""
    return any(ch.isalnum() or ch in "?✓✗⊘▶…↷" for ch in text)


class Sampler(App[None]):
    """The console's stylesheet and themes around the parts that text is drawn on."""

    CSS_PATH = STYLESHEET
    BINDINGS = [
        Binding("x", "bell", "Something", id="sampler.x"),
        Binding("question_mark", "bell", "Help", id="sampler.help"),
    ]

    def __init__(self, theme: str) -> None:
        super().__init__()
        for palette in THEMES.values():
            self.register_theme(palette)
        self.theme = theme

    def compose(self) -> ComposeResult:
        yield Static("Executions", classes="title")
        yield Static("Press i to import the bundled examples", classes="hint")
        yield Input(placeholder="filter by workflow name", id="box")
        for name in ("focused", "blurred"):
            table: DataTable[Text] = DataTable(id=name, cursor_type="row", zebra_stripes=True)
            table.add_columns("workflow", "status")
            yield table
        for variant in ("default", "primary", "error", "warning", "success"):
            yield Button(variant, variant=variant)
        yield KeyBar()

    def on_mount(self) -> None:
        for table in self.query(DataTable):
            for status in STATUSES:
                table.add_row(Text("release-artifact"), format.status(status, self.theme_variables))
        self.query_one("#focused").focus()


def frames(theme: str) -> list[tuple[str, list[list[Segment]]]]:
    """Each screen the sampler shows, as rows of segments (what the terminal is sent)."""

    async def main() -> list[tuple[str, list[list[Segment]]]]:
        app = Sampler(theme)
        shot: list[tuple[str, list[list[Segment]]]] = []

        def take(label: str, part: str | None = None) -> None:
            """The frame, as App.export_screenshot draws it but in segments, cut to ``part``.

            Behind a modal the screen is faded on purpose: only the modal is read then.
            """
            region = app.screen.query_one(part).region if part else app.screen.region
            lines = app.screen._compositor.render_strips()[region.y : region.bottom]
            shot.append((label, [list(strip.crop(region.x, region.right)) for strip in lines]))

        async with app.run_test(size=(80, 40)) as pilot:
            await pilot.pause()
            take("table")
            app.push_screen(ConfirmModal("Cancel execution [b]17[/b]?", yes="Cancel"))
            await pilot.pause()
            take("confirm", ".modal")
            app.pop_screen()
            rows = [
                ("question_mark", "Help", "app.help"),
                ("escape", "Back", "execution.back"),
                ("right_square_bracket", "Next steps", "execution.next_page"),
            ]
            app.push_screen(HelpScreen("Execution", rows))
            await pilot.pause()
            take("help")
        return shot

    return asyncio.run(main())


@pytest.fixture(scope="module", params=sorted(THEMES))
def rendered(request: Any) -> tuple[str, list[tuple[str, list[list[Segment]]]]]:
    return request.param, frames(request.param)


def test_contrast_is_wcag_relative_luminance() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    # What wfe-ansi's selected row was: black on xterm's blue.
    assert contrast(xterm("ansi_black"), xterm("ansi_blue")) == pytest.approx(2.23, abs=0.01)


def test_every_text_cell_has_four_and_a_half_to_one(
    rendered: tuple[str, list[tuple[str, list[list[Segment]]]]],
) -> None:
    name, shots = rendered
    theme = THEMES[name]
    seen = {label: "".join(s.text for line in lines for s in line) for label, lines in shots}
    assert "release-artifact" in seen["table"] and "Cancel execution 17?" in seen["confirm"]
    assert "execution.next_page" in seen["help"] and "[keys]" in seen["help"]
    poor = []
    for label, lines in shots:
        for y, line in enumerate(lines):
            for segment in line:
                if not readable(segment.text):
                    continue
                fg, bg = drawn(segment, theme)
                if (ratio := contrast(fg, bg)) < AA:
                    poor.append(
                        f"{label} row {y} {segment.text.strip()!r}: {fg} on {bg} {ratio:.2f}"
                    )
    assert not poor, f"{name}:\n" + "\n".join(poor)


def test_the_selected_row_is_drawn_and_measured(
    rendered: tuple[str, list[tuple[str, list[list[Segment]]]]],
) -> None:
    """The cursor row is really in the frame (so the check above covered it), in both tables."""
    name, shots = rendered
    theme = THEMES[name]
    (lines,) = [lines for label, lines in shots if label == "table"]
    rows = ["".join(s.text for s in line) for line in lines]
    surface = default_pair(theme)[1] if theme.ansi else theme.surface
    selected = [
        y
        for y, line in enumerate(lines)
        if "succeeded" in rows[y] and drawn(line[0], theme)[1] not in (surface, theme.background)
    ]
    assert len(selected) == 2, f"{name}: the first row of each table should be the cursor"
    for y in selected:
        segment = next(s for s in lines[y] if "release-artifact" in s.text)
        assert contrast(*drawn(segment, theme)) >= AA


@pytest.mark.parametrize("name", sorted(THEMES))
def test_status_colours_read_on_every_background_of_the_theme(name: str) -> None:
    """Straight from the theme: each status colour on the background, surface and panel."""
    theme = THEMES[name]
    text_default, background_default = default_pair(theme)

    def hex_of(value: str | None, default: str) -> str:
        if value is None or value == "ansi_default":
            return default
        return xterm(value) if value.startswith("ansi_") else value

    for field in ("success", "error", "warning", "primary", "accent", "foreground"):
        colour = hex_of(getattr(theme, field), text_default)
        for ground in ("background", "surface", "panel"):
            behind = hex_of(getattr(theme, ground), background_default)
            assert contrast(colour, behind) >= AA, f"{name}: {field} on {ground}"
