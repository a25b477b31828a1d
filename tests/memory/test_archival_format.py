"""What ``archival_memory_search`` returns: the text of one page of passages."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from memvisor.memory._archival_format import (
    PASSAGE_MAX_CHARS,
    format_archival_page,
    format_passage_hit,
)
from memvisor.memory._archival_model import ArchivalPage, Passage, PassageHit

T = datetime(2025, 1, 3, 9, 12, tzinfo=UTC).timestamp()


def hit(text: str, *, at: float = T, origin: str | None = None, n: int = 0) -> PassageHit:
    passage = Passage(id=f"ada:{n}", owner="ada", text=text, at=at, origin=origin)
    return PassageHit(passage=passage, score=1.0)


def page(
    hits: list[PassageHit], total: int, number: int = 0, size: int = 5, note: str | None = None
) -> ArchivalPage:
    return ArchivalPage(
        hits=tuple(hits), total=total, page=number, page_size=size, mode="hybrid", note=note
    )


def test_no_results() -> None:
    assert format_archival_page(page([], 0)) == "No results found."


def test_first_of_several_pages_shows_a_1_based_header_and_how_to_get_the_next() -> None:
    text = format_archival_page(
        page(
            [
                hit("Bob's sister Ann lives in Lyon."),
                hit("Lyon is two hours from Paris.", at=T - 86_400, origin="docs/travel.md"),
            ],
            total=7,
            size=2,
        )
    )
    assert text == (
        "Showing 2 of 7 results (page 1/4):\n"
        "[2025-01-03T09:12:00Z] Bob's sister Ann lives in Lyon.\n"
        "[2025-01-02T09:12:00Z] (from docs/travel.md) Lyon is two hours from Paris.\n"
        "More results: call again with page=1."
    )


def test_last_page_says_nothing_more() -> None:
    text = format_archival_page(page([hit("hi")], total=6, number=1))
    assert text.splitlines() == ["Showing 1 of 6 results (page 2/2):", "[2025-01-03T09:12:00Z] hi"]


def test_a_page_past_the_last_names_the_pages_there_are() -> None:
    text = format_archival_page(page([], total=6, number=4))
    assert text == "No results on page 5: the 6 results fill 2 pages (page=0 to page=1)."


def test_the_note_is_shown_with_or_without_results() -> None:
    note = "full-text search only: no embedder is configured"
    assert format_archival_page(page([], 0, note=note)) == f"No results found.\nNote: {note}"
    text = format_archival_page(page([hit("hi")], total=1, note=note))
    assert text.splitlines()[-1] == f"Note: {note}"


def test_a_hit_is_one_line_and_a_long_one_is_cut() -> None:
    assert format_passage_hit(hit("line one\n\n  line\ttwo ")) == (
        "[2025-01-03T09:12:00Z] line one line two"
    )
    long = format_passage_hit(hit("x" * (PASSAGE_MAX_CHARS + 7)))
    assert long == f"[2025-01-03T09:12:00Z] {'x' * PASSAGE_MAX_CHARS}… [7 more characters]"


def test_an_origin_with_newlines_stays_on_the_line() -> None:
    assert (
        format_passage_hit(hit("t", origin="a\nb.md")) == "[2025-01-03T09:12:00Z] (from a b.md) t"
    )


def test_a_time_no_calendar_can_show_is_written_as_a_number() -> None:
    assert format_passage_hit(hit("t", at=1e20)).startswith("[1e+20] ")


@given(
    texts=st.lists(st.text(), min_size=0, max_size=5),
    extra=st.integers(min_value=0, max_value=50),
    number=st.integers(min_value=0, max_value=12),
    size=st.integers(min_value=1, max_value=10),
)
def test_one_line_per_hit_and_the_next_page_is_named_exactly_when_there_is_one(
    texts: list[str], extra: int, number: int, size: int
) -> None:
    hits = [hit(t, n=i) for i, t in enumerate(texts[:size])]
    total = number * size + len(hits) + extra if hits else extra
    lines = format_archival_page(page(hits, total, number, size)).splitlines()
    if total == 0:
        assert lines == ["No results found."]
    elif not hits:
        assert len(lines) == 1
        assert lines[0].startswith("No results on page")
    else:
        pages = -(-total // size)
        assert lines[0] == f"Showing {len(hits)} of {total} results (page {number + 1}/{pages}):"
        assert len(lines) == 1 + len(hits) + (number + 1 < pages)
        if number + 1 < pages:
            assert lines[-1] == f"More results: call again with page={number + 1}."
