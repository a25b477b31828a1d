"""What the agent's recall functions return: a page of hits as text the model reads.

``conversation_search`` (words) and ``conversation_search_date`` (a range of
days) both end in :func:`format_recall_page`::

    Showing 2 of 7 results (page 1/4):
    [2025-01-03T09:12:00Z] user: Can we move the budget meeting to Friday?
    [2025-01-03T09:12:04Z] assistant: Done: the budget meeting is on Friday at 10.
    More results: call again with page=1.

Pages are numbered from 0 in the functions' ``page`` argument (as in MemGPT,
and as :class:`~memvisor.events.RecallQuery` counts), and from 1 in the
header, for people and models alike; the closing line names the exact
``page`` value that fetches the next one, so the two cannot be confused.

Invariants: pure functions of their arguments (no clock, no I/O); times are
UTC ISO 8601 as everywhere else in the prompt; one line per hit, whatever the
message holds (whitespace runs, newlines included, read as one space).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from ..events import RecallHit, RecallPage
from ._messages import format_time

__all__ = ["HIT_MAX_CHARS", "day_bounds", "format_recall_hit", "format_recall_page"]

HIT_MAX_CHARS = 500
"""A message longer than this shows its first characters and how many were cut."""

_NO_RESULTS = "No results found."


def format_recall_page(page: RecallPage) -> str:
    """The text a recall search function returns for one page of results.

    ``Showing n of total results (page p/N):`` with ``p = page.page + 1`` (1-based)
    and ``N = page.pages``, then one line per hit (:func:`format_recall_hit`),
    then, when a later page exists, the ``page`` argument that fetches it.
    ``No results found.`` when nothing matched; a page past the last one says
    so and names the last page.
    """
    if page.total == 0:
        return _NO_RESULTS
    if not page.hits:
        return (
            f"No results on page {page.page + 1}: the {page.total} results fill"
            f" {page.pages} pages (page=0 to page={page.pages - 1})."
        )
    lines = [
        f"Showing {len(page.hits)} of {page.total} results (page {page.page + 1}/{page.pages}):",
        *(format_recall_hit(hit) for hit in page.hits),
    ]
    if page.page + 1 < page.pages:
        lines.append(f"More results: call again with page={page.page + 1}.")
    return "\n".join(lines)


def format_recall_hit(hit: RecallHit) -> str:
    """``[time] role: text`` on one line, the text cut at :data:`HIT_MAX_CHARS`."""
    text = " ".join(hit.text.split())
    if len(text) > HIT_MAX_CHARS:
        cut = len(text) - HIT_MAX_CHARS
        text = f"{text[:HIT_MAX_CHARS]}… [{cut} more characters]"
    return f"[{format_time(hit.at)}] {hit.role}: {text}"


def day_bounds(start: date, end: date) -> tuple[float, float]:
    """``RecallQuery.start``/``end`` covering whole UTC days, ``start`` to ``end`` inclusive.

    Dates in the wrong order are swapped: a model asking for "from the 5th
    to the 3rd" means those three days.
    """
    first, last = sorted((start, end))
    lower = datetime.combine(first, time.min, tzinfo=UTC).timestamp()
    upper = datetime.combine(last, time.max, tzinfo=UTC).timestamp()
    return lower, upper
