"""Searching the passages table: rankings by words, by meaning, and both fused.

```
fulltext  the whole BM25 ranking (exact total) ─┐
nearest   the best offset+limit by distance    ─┼─► sort by (score, id) ─► slice ─► fetch rows
hybrid    best W by distance + best W by BM25  ─┴─► RRF ─► slice ─► fetch rows
```

Invariants:

* Every ranking is sorted by (score, id), and cut only between different scores
  (:func:`_top` reads on while a tie straddles the cut): ties are common
  (repeated words, repeated texts), and an order that varied between two
  queries would show a passage on two pages and skip another.
* Rankings carry ids and row ids only; the rows of the one page shown are
  fetched afterwards (by row id, checked against the ids).
* Full-text queries are :class:`~lancedb.query.MatchQuery` objects: user text is
  never parsed as a query language, so no query string can fail to parse.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

import numpy as np
import pyarrow as pa
from lancedb.query import FullTextOperator, LanceVectorQueryBuilder, MatchQuery
from lancedb.table import Table as LanceTable

from ._archival_model import Passage
from ._archival_query import rrf_fuse
from ._archival_table import PassageTable, quote

__all__ = [
    "NPROBES",
    "REFINE_FACTOR",
    "Hit",
    "fetch",
    "fulltext",
    "hybrid",
    "match_query",
    "nearest",
]

# Vector search with an index: probe at least this many IVF partitions (more when a
# narrow filter leaves too few candidates), then re-rank REFINE_FACTOR x limit
# candidates by their exact distance. Measured by scripts/bench_memory.py.
NPROBES = 20
REFINE_FACTOR = 3
_COLUMNS = ["id", "owner", "text", "at", "tags", "origin"]

Hit = tuple[Passage, float]
Vector = np.ndarray[tuple[int], np.dtype[np.float32]]
RowRef = tuple[str, int]
"""A passage's id and its row id in the current version of the table."""


def fulltext(
    handle: PassageTable, query: str, where: str, *, offset: int, limit: int
) -> tuple[list[Hit], int]:
    """A page of the passages holding a word of ``query``, best BM25 score first, and
    how many there are (the whole ranking is read: the only exact count)."""
    table = handle.attached()
    if table is None:
        return [], 0
    ranked = _by_words(table, query, where, want=None)
    return _page(handle, ranked, offset, limit), ranked.num_rows


def nearest(
    handle: PassageTable, vector: Vector, where: str, *, offset: int, limit: int
) -> list[Hit]:
    """A page of passages by cosine similarity to ``vector`` (score ``1 - distance``).

    With an ANN index the candidates are re-ranked by their exact distance.
    """
    table = handle.attached()
    if table is None or handle.dim is None:
        return []
    ranked = _by_meaning(table, vector, where, want=offset + limit, refine=True)
    return _page(handle, ranked, offset, limit)


def hybrid(
    handle: PassageTable,
    query: str,
    vector: Vector,
    where: str,
    *,
    window: int,
    offset: int,
    limit: int,
) -> tuple[list[Hit], int]:
    """Fuse the best ``window`` by meaning with the best ``window`` by words (RRF);
    return the fused list's ``[offset:offset + limit]`` and its length.

    With an ANN index the meaning ranking uses the index's approximate distances:
    fusion needs ranks only, and re-ranking would cost a third of the time.
    """
    table = handle.attached()
    if table is None or handle.dim is None:
        return [], 0
    legs = [
        _by_meaning(table, vector, where, want=window, refine=False),
        _by_words(table, query, where, want=window),
    ]
    rankings = [[str(i) for i in leg.column("id").to_pylist()] for leg in legs]
    rows = {
        pid: int(row)
        for leg, ids in zip(legs, rankings, strict=True)
        for pid, row in zip(ids, leg.column("_rowid").to_pylist(), strict=True)
    }
    fused = rrf_fuse(rankings)
    chosen = fused[offset : offset + limit]
    passages = fetch(handle, [(pid, rows[pid]) for pid, _ in chosen])
    return [(passages[pid], score) for pid, score in chosen if pid in passages], len(fused)


def _by_words(table: LanceTable, query: str, where: str, *, want: int | None) -> pa.Table:
    def run(limit: int) -> pa.Table:
        search = table.search(match_query(query)).where(where).limit(limit).with_row_id(True)
        return search.select(["id", "_score"]).to_arrow()

    # The whole ranking costs about what its top 100 cost (scoring dominates), and ties
    # in BM25 scores are common: read it all. (Without a limit a full-text search
    # returns 10 rows; no filter passes more than all of them.)
    return _top(run, "_score", want=want, first=max(1, int(table.count_rows())))


def _by_meaning(
    table: LanceTable, vector: Vector, where: str, *, want: int, refine: bool
) -> pa.Table:
    def run(limit: int) -> pa.Table:
        search = cast(LanceVectorQueryBuilder, table.search(vector, vector_column_name="vector"))
        search = search.distance_type("cosine").minimum_nprobes(NPROBES).maximum_nprobes(0)
        if refine:
            search = search.refine_factor(REFINE_FACTOR)
        search = search.where(where, prefilter=True).limit(limit).with_row_id(True)
        return search.select(["id", "_distance"]).to_arrow()

    return _top(run, "_distance", want=want, first=want + 1)


def _page(handle: PassageTable, ranked: pa.Table, offset: int, limit: int) -> list[Hit]:
    page = ranked.slice(offset, limit)
    ids = [str(i) for i in page.column("id").to_pylist()]
    if "_score" in page.column_names:
        scores = [float(s) for s in page.column("_score").to_pylist()]
    else:
        scores = [1.0 - float(d) for d in page.column("_distance").to_pylist()]
    passages = fetch(handle, list(zip(ids, page.column("_rowid").to_pylist(), strict=True)))
    return [
        (passages[pid], score) for pid, score in zip(ids, scores, strict=True) if pid in passages
    ]


def fetch(handle: PassageTable, refs: Sequence[RowRef]) -> dict[str, Passage]:
    """The passages of these (id, row id) pairs, by id.

    Taking rows by row id is the fast way; row ids change when maintenance
    compacts the table, so what comes back is checked against the ids, and
    looked up by id instead if it does not match.
    """
    table = handle.attached()
    if table is None or not refs:
        return {}
    wanted = {pid for pid, _ in refs}
    try:
        result = table.take_row_ids([row for _, row in refs]).select(_COLUMNS).to_arrow()
        found = {p.id: p for p, _ in _hits(result, [0.0] * result.num_rows)}
    except (OSError, ValueError, RuntimeError):  # a row id of a compacted-away file
        found = {}
    if set(found) != wanted:
        where = f"id IN ({', '.join(quote(i) for i in wanted)})"
        result = table.search().where(where).select(_COLUMNS).limit(None).to_arrow()
        found = {p.id: p for p, _ in _hits(result, [0.0] * result.num_rows)}
    return found


def match_query(query: str) -> MatchQuery:
    """The query's words, OR-ed, as a match query: never parsed as query syntax."""
    return MatchQuery(
        query,
        "text",
        boost=1.0,
        fuzziness=0,
        max_expansions=50,
        operator=FullTextOperator.OR,
        prefix_length=0,
        document_granularity=None,
    )


def _top(run: Callable[[int], pa.Table], column: str, *, want: int | None, first: int) -> pa.Table:
    """The best ``want`` rows of a ranking (all of them when ``None``), ordered by
    ``column`` (``_score`` descending, ``_distance`` ascending) and then id.

    ``run(limit)`` returns the best ``limit`` rows in the search's own order. It is
    asked for ``first`` rows, and again for twice as many while the row after the
    last one wanted ties with it: so the cut never falls inside a tie.
    """
    order = "descending" if column == "_score" else "ascending"
    limit = first
    while True:
        ranked = run(limit).sort_by([(column, order), ("id", "ascending")])
        if want is None:
            return ranked
        values = ranked.column(column)
        if (
            ranked.num_rows <= want
            or ranked.num_rows < limit
            or values[want].as_py() != values[want - 1].as_py()
        ):
            return ranked.slice(0, want)
        limit *= 2


def _hits(result: pa.Table, scores: list[float]) -> list[Hit]:
    ids, owners, texts, ats, tags, origins = (result.column(c).to_pylist() for c in _COLUMNS)
    return [
        (
            Passage(
                id=ids[i],
                owner=owners[i],
                text=texts[i],
                at=ats[i],
                tags=tuple(tags[i]),
                origin=origins[i],
            ),
            float(scores[i]),
        )
        for i in range(len(ids))
    ]
