"""What ``archival_memory_search`` returns: a page of passages as text the model reads.

The same shape as recall's pages (``_recall.py``), so the model learns one format::

    Showing 2 of 7 results (page 1/4):
    [2025-01-03T09:12:00Z] Bob's sister Ann lives in Lyon and visits in May.
    [2024-11-20T08:00:00Z] (from docs/travel.md) Lyon is two hours from Paris by train.
    More results: call again with page=1.
    Note: full-text search only: no embedder is configured

Pages are numbered from 0 in the function's ``page`` argument and from 1 in
the header; the closing line names the exact ``page`` value for the next one.

Invariants: pure functions of their arguments (no clock, no I/O); times are
UTC ISO 8601 as everywhere else in the prompt; one line per hit (whitespace
runs, newlines included, read as one space); the page's ``note``, when there
is one, is always shown, even with no results.
"""

from __future__ import annotations

from ._archival_model import ArchivalPage, PassageHit
from ._messages import format_time

__all__ = ["PASSAGE_MAX_CHARS", "format_archival_page", "format_passage_hit"]

PASSAGE_MAX_CHARS = 2000
"""A passage longer than this shows its first characters and how many were cut.

Larger than recall's limit: a passage is something the agent chose to keep, or
a chunk of a document (a few hundred tokens), and is read for its detail. The
cap only keeps one huge passage from crowding the rest of the page out of the
function's output limit."""

_NO_RESULTS = "No results found."


def format_archival_page(page: ArchivalPage) -> str:
    """The text ``archival_memory_search`` returns for one page of results.

    ``Showing n of total results (page p/N):`` with ``p = page.page + 1`` and
    ``N`` the number of pages, one line per hit (:func:`format_passage_hit`),
    the ``page`` argument that fetches the next page when there is one, and
    ``Note: …`` when the page carries a note. ``No results found.`` when
    nothing matched; a page past the last one says so and names the last page.
    """
    pages = -(-page.total // page.page_size)
    if page.total == 0:
        lines = [_NO_RESULTS]
    elif not page.hits:
        lines = [
            f"No results on page {page.page + 1}: the {page.total} results fill"
            f" {pages} pages (page=0 to page={pages - 1})."
        ]
    else:
        lines = [
            f"Showing {len(page.hits)} of {page.total} results (page {page.page + 1}/{pages}):",
            *(format_passage_hit(hit) for hit in page.hits),
        ]
        if page.page + 1 < pages:
            lines.append(f"More results: call again with page={page.page + 1}.")
    if page.note:
        lines.append(f"Note: {page.note}")
    return "\n".join(lines)


def format_passage_hit(hit: PassageHit) -> str:
    """``[time] text``, or ``[time] (from origin) text``, on one line, cut at
    :data:`PASSAGE_MAX_CHARS`."""
    passage = hit.passage
    text = " ".join(passage.text.split())
    if len(text) > PASSAGE_MAX_CHARS:
        cut = len(text) - PASSAGE_MAX_CHARS
        text = f"{text[:PASSAGE_MAX_CHARS]}… [{cut} more characters]"
    origin = " ".join(passage.origin.split()) if passage.origin else ""
    source = f"(from {origin}) " if origin else ""
    return f"[{format_time(passage.at)}] {source}{text}"
