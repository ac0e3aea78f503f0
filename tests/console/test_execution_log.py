"""The execution log's lines drawn without a screen: marks, times, filters, hints."""

from __future__ import annotations

from datetime import UTC, datetime

from console.screens import execution_log
from console.screens.execution_log import Entry
from engine.status import StepStatus

AT = datetime(2026, 11, 27, 12, 0, 0, 123_000, tzinfo=UTC)
THEME = {"error": "ansi_red"}


def line(text: str, stream: str = "stdout", step: str | None = "build") -> Entry:
    return Entry(1, step, stream, text, AT)


def draw(e: Entry, *, show_times: bool = False, pattern: str | None = None) -> str:
    return execution_log.format_line(e, THEME, show_times=show_times, pattern=pattern).plain


def test_stderr_is_marked_in_plain_text_and_stdout_is_not() -> None:
    assert draw(line("oops", "stderr")) == f"{'build':<12} ! oops"
    assert draw(line("fine")) == f"{'build':<12}   fine"
    assert draw(line("note", "system", step=None)) == f"{'-':<12}   note"


def test_stderr_takes_the_theme_s_error_colour_as_rich_names_it() -> None:
    text = execution_log.format_line(line("oops", "stderr"), THEME, show_times=False, pattern=None)
    assert {str(span.style) for span in text.spans} >= {"bold red", "red"}


def test_the_time_shows_only_when_toggled_and_the_screen_s_notes_have_none() -> None:
    assert not draw(line("fine")).startswith(AT.astimezone().strftime("%H:%M:%S"))
    timed = draw(line("fine"), show_times=True)
    assert timed.startswith(AT.astimezone().strftime("%H:%M:%S.123") + " ")
    note = execution_log.skipped(50, 49, execution_id=7)
    assert draw(note, show_times=True).startswith(" " * 13 + "-")


def test_the_skipped_note_says_how_many_and_how_to_see_them() -> None:
    note = execution_log.skipped(1_201, 1_200, execution_id=7)
    assert note.stream == execution_log.SKIPPED and note.seq == 1_201 and note.time is None
    assert "1,200 lines not shown" in note.text and "wfe logs 7" in note.text


def test_a_search_highlights_without_changing_the_text() -> None:
    text = execution_log.format_line(
        line("Upstream not ready"), THEME, show_times=False, pattern="upstream"
    )
    assert text.plain.endswith("Upstream not ready")
    assert any(str(span.style) == "reverse" for span in text.spans)


def test_shows_narrows_to_the_step_and_to_matches_only_when_asked() -> None:
    a, b = line("upstream down", step="a"), line("all good", step="b")

    def shown(
        step_filter: str | None = None, pattern: str | None = None, only_matching: bool = False
    ) -> list[Entry]:
        return [
            e
            for e in (a, b)
            if execution_log.shows(
                e, step_filter=step_filter, pattern=pattern, only_matching=only_matching
            )
        ]

    assert shown() == [a, b]
    assert shown(step_filter="b") == [b]
    assert shown(pattern="UPSTREAM") == [a, b]  # searching alone narrows nothing
    assert shown(pattern="UPSTREAM", only_matching=True) == [a]


def test_matches_are_places_among_the_lines_shown_case_blind() -> None:
    lines = [line("Upstream"), line("ok"), line("upstream again")]
    assert execution_log.matches(lines, "upstream") == [0, 2]
    assert execution_log.matches(lines, None) == []


def test_the_empty_log_says_which_step_runs_or_waits() -> None:
    steps = {"a": StepStatus.RUNNING, "b": StepStatus.WAITING, "c": StepStatus.PENDING}

    def hint(
        held: list[Entry],
        step_filter: str | None = None,
        pattern: str | None = None,
        only_matching: bool = False,
    ) -> str | None:
        return execution_log.hint(
            held, steps, step_filter=step_filter, pattern=pattern, only_matching=only_matching
        )

    assert hint([]) == "step a is running; no output yet"
    assert hint([], step_filter="b") == "step b waits for approval: A approves, X rejects"
    assert hint([], step_filter="c") is None
    assert hint([line("out", step="x")]) is None  # something shows
    assert hint([line("out", step="x")], step_filter="a") == "step a is running; no output yet"
    assert hint([], pattern="x", only_matching=True) is None  # empty for the search's sake


def test_the_state_line_lists_what_is_on() -> None:
    plain = execution_log.state(
        follow=True,
        wrap=False,
        show_times=False,
        step_filter=None,
        pattern=None,
        only_matching=False,
    )
    assert plain == "following · not wrapped · ! marks stderr"
    narrowed = execution_log.state(
        follow=False, wrap=True, show_times=True, step_filter="a", pattern="up", only_matching=True
    )
    assert narrowed == (
        "paused (f follows) · wrapped · times · step a · search 'up', matches only · ! marks stderr"
    )


def test_a_search_can_be_inverted_and_says_how_many_lines_match() -> None:
    lines = [
        execution_log.Entry(i, "s", "stdout", text, None)
        for i, text in enumerate(["GET /health 200", "GET /orders 500", "GET /health 200"])
    ]
    assert execution_log.matches(lines, "health") == [0, 2]
    assert execution_log.matches(lines, "!health") == [1]  # the lines without it
    assert (
        execution_log.shows(lines[0], step_filter=None, pattern="!health", only_matching=True)
        is False
    )
    state = execution_log.state(
        follow=False,
        wrap=False,
        show_times=False,
        step_filter=None,
        pattern="health",
        only_matching=False,
        found=(2, 17),
    )
    assert "search 'health': 2 of 17" in state
    before_n = execution_log.state(
        follow=False,
        wrap=False,
        show_times=False,
        step_filter=None,
        pattern="health",
        only_matching=False,
        found=(0, 17),
    )
    assert "search 'health': 17 lines" in before_n


def test_context_shows_lines_around_each_match_once_with_a_separator_between_groups() -> None:
    lines = [Entry(i, "build", "stdout", text, AT) for i, text in enumerate(
        ["a", "b", "ERROR one", "c", "d", "e", "f", "g", "ERROR two", "h", "ERROR three", "i"]
    )]  # fmt: skip

    def texts(n: int) -> list[str | None]:
        return [e.text if e else None for e in execution_log.around(lines, "error", n)]

    assert texts(0) == ["ERROR one", None, "ERROR two", None, "ERROR three"]
    assert texts(1) == ["b", "ERROR one", "c", None, "g", "ERROR two", "h", "ERROR three", "i"]
    assert texts(5)[:3] == ["a", "b", "ERROR one"] and None not in texts(5)  # one group
    inverted = [e.text if e else None for e in execution_log.around(lines[:4], "!error", 0)]
    assert inverted == ["a", "b", None, "c"]


def test_the_state_line_says_how_many_lines_of_context_show() -> None:
    said = execution_log.state(
        follow=True, wrap=False, show_times=False, step_filter=None, pattern="error",
        only_matching=True, found=(1, 3), context=2,
    )  # fmt: skip
    assert "search 'error': 1 of 3, matches only ±2 lines (C)" in said
