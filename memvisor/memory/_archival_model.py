"""Archival memory's records: passages, search hits, pages, and the store's seam.

A passage's ``id`` is its idempotency key: the event that caused it
(``f"{agent}:{seq}"``) or, for a data source, ``f"source:{name}:{hash}:{chunk}"``.
Storing the same id twice stores it once, so replaying a log changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

import msgspec

__all__ = [
    "ArchivalPage",
    "ArchivalStatistics",
    "ArchivalStore",
    "Passage",
    "PassageHit",
    "SearchMode",
]

SearchMode = Literal["hybrid", "semantic", "fulltext"]
"""``"semantic"``: by meaning (embeddings); ``"fulltext"``: by words (BM25);
``"hybrid"``: both, merged by reciprocal rank fusion."""


class Passage(msgspec.Struct, frozen=True, kw_only=True):
    """One piece of text in archival memory."""

    id: str
    """The idempotency key: the event that caused it, e.g. ``"alice:42"``."""
    owner: str
    """An agent's name, or ``"source:NAME"`` for a data source's passages."""
    text: str
    at: float
    """Seconds since the epoch."""
    tags: tuple[str, ...] = ()
    origin: str | None = None
    """Where it came from, e.g. the file a source passage was cut from."""


class PassageHit(msgspec.Struct, frozen=True, kw_only=True):
    """A passage found by a search."""

    passage: Passage
    score: float
    """Higher is better; comparable within one page only (its scale depends on the mode)."""


class ArchivalPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of search results."""

    hits: tuple[PassageHit, ...]
    total: int
    """How many passages the search found over all pages (see ``search`` for each mode)."""
    page: int
    """0-based."""
    page_size: int
    mode: SearchMode
    """The mode actually used (``"fulltext"`` when there is no embedder)."""
    note: str | None = None
    """Something the reader should know, e.g. that search fell back to full text."""


class ArchivalStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """Counters of an archival store since it was opened."""

    inserted: int
    """Passages that were new (repeated ids not counted)."""
    searches: int
    maintenance_runs: int
    """Passes that compacted files and brought the indexes up to date."""
    ann_index: bool
    """Whether vector search uses an ANN index (built once the table is large enough)."""


class ArchivalStore(Protocol):
    """Where passages live. Implementation: LanceDB (:func:`open_archival`)."""

    async def insert(self, passages: Sequence[Passage]) -> int:
        """Store the passages whose id is new; return how many were new.

        Raises:
            UsageError: a passage has an empty id, owner or text, or a non-finite ``at``
                (nothing of the batch is stored).
        """
        ...

    async def search(
        self,
        query: str,
        *,
        owners: Sequence[str],
        mode: SearchMode = "hybrid",
        tags: Sequence[str] = (),
        start: float | None = None,
        end: float | None = None,
        page: int = 0,
        page_size: int = 5,
    ) -> ArchivalPage:
        """Passages of any of ``owners`` with all of ``tags`` and ``start <= at < end``,
        best first, one page of them.

        Without an embedder, ``"hybrid"`` and ``"semantic"`` run as ``"fulltext"``
        and the page's ``note`` says so.

        Raises:
            UsageError: an empty query, ``page < 0``, or ``page_size`` out of range.
            EmbeddingError: embedding the query failed.
        """
        ...

    async def count(self, owners: Sequence[str]) -> int:
        """How many passages belong to any of ``owners``."""
        ...

    async def owners(self) -> list[str]:
        """Every owner with at least one passage, sorted."""
        ...

    async def delete_owner(self, owner: str) -> int:
        """Delete every passage of ``owner`` (an agent being deleted, or ``"source:NAME"``);
        return how many there were. Their ids may then be inserted again."""
        ...
