"""What the agent's recall functions return: the text of one page of hits."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memvisor.events import RECALL_ROLES, RecallHit, RecallPage, RecallRole
from memvisor.memory._recall import (
    HIT_MAX_CHARS,
    day_bounds,
    format_recall_hit,
    format_recall_page,
)

T = datetime(2025, 1, 3, 9, 12, tzinfo=UTC).timestamp()


def hit(seq: int, text: str, role: RecallRole = "user", at: float = T) -> RecallHit:
    return RecallHit(seq=seq, at=at, role=role, text=text, score=1.0)


def page(hits: list[RecallHit], total: int, number: int = 0, size: int = 5) -> RecallPage:
    return RecallPage(hits=tuple(hits), total=total, page=number, page_size=size)


def test_no_results() -> None:
    assert format_recall_page(page([], 0)) == "No results found."


def test_first_of_several_pages_shows_a_1_based_header_and_how_to_get_the_next() -> None:
    text = format_recall_page(
        page(
            [
                hit(3, "Can we move the budget meeting to Friday?"),
                hit(4, "Done: the budget meeting is on Friday at 10.", "assistant", T + 4),
            ],
            total=7,
            size=2,
        )
    )
    assert text == (
        "Showing 2 of 7 results (page 1/4):\n"
        "[2025-01-03T09:12:00Z] user: Can we move the budget meeting to Friday?\n"
        "[2025-01-03T09:12:04Z] assistant: Done: the budget meeting is on Friday at 10.\n"
        "More results: call again with page=1."
    )


def test_last_page_says_nothing_more() -> None:
    text = format_recall_page(page([hit(1, "hi")], total=6, number=1))
    assert text.splitlines() == [
        "Showing 1 of 6 results (page 2/2):",
        "[2025-01-03T09:12:00Z] user: hi",
    ]


def test_page_past_the_end_names_the_pages_there_are() -> None:
    text = format_recall_page(page([], total=6, number=4))
    assert text == "No results on page 5: the 6 results fill 2 pages (page=0 to page=1)."


def test_long_message_is_cut_with_a_marker() -> None:
    line = format_recall_hit(hit(1, "x" * (HIT_MAX_CHARS + 123)))
    assert line == f"[2025-01-03T09:12:00Z] user: {'x' * HIT_MAX_CHARS}… [123 more characters]"
    assert format_recall_hit(hit(1, "y" * HIT_MAX_CHARS)).endswith("y" * HIT_MAX_CHARS)


@given(
    text=st.text(),
    role=st.sampled_from(RECALL_ROLES),
    at=st.floats(allow_nan=False, allow_infinity=False),
)
def test_every_hit_is_one_line(text: str, role: RecallRole, at: float) -> None:
    line = format_recall_hit(hit(1, text, role, at))
    assert len(line.splitlines()) <= 1
    assert f"] {role}:" in line


def test_whitespace_runs_read_as_one_space() -> None:
    assert format_recall_hit(hit(1, "a\n\n  b\tc ")) == "[2025-01-03T09:12:00Z] user: a b c"


@pytest.mark.parametrize(
    ("start", "end"),
    [(date(2025, 1, 3), date(2025, 1, 5)), (date(2025, 1, 5), date(2025, 1, 3))],
    ids=["in-order", "swapped"],
)
def test_day_bounds_cover_whole_utc_days(start: date, end: date) -> None:
    lower, upper = day_bounds(start, end)
    assert lower == datetime(2025, 1, 3, tzinfo=UTC).timestamp()
    assert datetime(2025, 1, 5, 23, 59, 59, tzinfo=UTC).timestamp() < upper
    assert upper < datetime(2025, 1, 6, tzinfo=UTC).timestamp()


def test_day_bounds_of_the_extreme_dates() -> None:
    lower, upper = day_bounds(date.min, date.max)
    assert lower < upper
