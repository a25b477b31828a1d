"""Archival memory on LanceDB: passages searched by meaning, by words, or both.

```
insert(passages) ─► validate all ─► drop ids already stored ─► embed the rest ─► merge-insert on id
search(query)    ─► filter: owners (any) ∧ tags (all) ∧ start <= at < end
                    ├─ fulltext  BM25 over the FTS index                      total: exact
                    ├─ semantic  cosine to the query's embedding              total: exact
                    └─ hybrid    top-W of each, reciprocal rank fusion (k=5) total: |fused list|
maintenance (a background task of open_archival) ─► compact, fold new rows into the indexes,
                    build the FTS index at once and the ANN index past ANN_THRESHOLD rows
```

Invariants:

* Inserting is idempotent, keyed by ``Passage.id``: a batch with ids already
  stored adds only the others, and nothing already stored is embedded again.
  A batch with an invalid passage stores nothing.
* Every search filters by owners: an agent sees its own passages and those of the
  sources attached to it, because its caller passes all those owners.
* Without an embedder (or opened without one), hybrid and semantic searches run
  full-text and say so in ``ArchivalPage.note``.
* Pages are slices of one ranking, so paging through a result set shows each
  passage once: for full text and (below the ANN threshold) semantic search the
  ranking is exact; hybrid search fuses a fixed window (``hybrid_window``, 100)
  of each ranking, and its ``total`` counts the fused list, a bound of the
  passages that match. Past the ANN threshold semantic paging is approximate,
  as with any vector index: a passage can rarely show on two pages or none.
* Blocking LanceDB calls run in worker threads; the event loop never waits on disk.

ANN threshold: ``ANN_THRESHOLD`` = 5,000 rows. Measured with
``scripts/bench_memory.py --ann-sweep`` (384-dim vectors, a filtered top-5
search, 2 cores): exact (flat) search grows with the table, about 0.3 ms per
1,000 rows (2.5 ms at 1,000 and 2,000 rows, 3.6 ms at 5,000, 6 ms at 10,000,
18 ms at 50,000, 33 ms at 100,000), while the IVF_SQ index (8-bit scalar
quantization, 20 probes, the best 3x candidates re-ranked by exact distance)
answers in 2.8 ms at 5,000, 2.9 ms at 10,000, 8 ms at 100,000, with recall@10
of 1.0 against exact search at every size, and builds in 0.02 s at 5,000 rows
(0.45 s at 100,000). Below 5,000 rows the index saves under a millisecond
(nothing at 2,000), and exact search is exactly right; from there on it halves
the time by 10,000 rows and quarters it by 50,000. IVF_PQ and IVF_HNSW_SQ were
measured too: recall@10 of 0.4-0.7 on the same budget, and HNSW took 50 s to
build at 100,000 rows.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import TypeVar, TypeVarTuple, Unpack

import anyio

from .._exceptions import ConfigError, UsageError
from .._util import NoPublicConstructor, single_error
from ._archival_ids import IdFilter
from ._archival_model import (
    ArchivalPage,
    ArchivalStatistics,
    ArchivalStore,
    Passage,
    PassageHit,
    SearchMode,
)
from ._archival_query import check_search, unique_passages
from ._archival_search import Hit, fulltext, hybrid, nearest
from ._archival_table import PassageTable, where_sql
from ._archival_upkeep import Upkeep
from ._embedders import Embedder, Vectors

__all__ = [
    "ANN_THRESHOLD",
    "HYBRID_WINDOW",
    "NO_EMBEDDER_NOTE",
    "ArchivalPage",
    "ArchivalStatistics",
    "ArchivalStore",
    "LanceArchivalStore",
    "Passage",
    "PassageHit",
    "SearchMode",
    "open_archival",
]

T = TypeVar("T")
U = TypeVar("U")
Ts = TypeVarTuple("Ts")

ANN_THRESHOLD = 5_000
"""Rows from which vector search uses an IVF_SQ index (see the module docstring)."""
HYBRID_WINDOW = 100
"""Hits taken from each ranking for hybrid fusion."""
NO_EMBEDDER_NOTE = "full-text search only: no embedder is configured"


class LanceArchivalStore(metaclass=NoPublicConstructor):
    """The :class:`ArchivalStore` on LanceDB. Open one with :func:`open_archival`."""

    def __init__(
        self,
        table: PassageTable,
        embedder: Embedder | None,
        *,
        threads: bool,
        ann_threshold: int,
        hybrid_window: int,
        maintenance_delay: float,
    ) -> None:
        self._table = table
        self._embedder = embedder
        self._threads = threads
        self._ann_threshold = ann_threshold
        self._hybrid_window = hybrid_window
        self._upkeep = Upkeep(
            delay=maintenance_delay, ann_threshold=ann_threshold, vectors=embedder is not None
        )
        self._threads_limiter = anyio.CapacityLimiter(4)
        self._write_lock = anyio.Lock()
        self._maintain_lock = anyio.Lock()
        self._closing = False
        self._ids: IdFilter | None = None  # loaded on the first insert that embeds
        self._inserted = self._searches = 0

    @property
    def path(self) -> Path:
        """The archive's directory."""
        return self._table.path

    @property
    def embedder(self) -> Embedder | None:
        """The embedder, or ``None`` (full-text search only)."""
        return self._embedder

    def statistics(self) -> ArchivalStatistics:
        """Counters since the store was opened."""
        return ArchivalStatistics(
            inserted=self._inserted,
            searches=self._searches,
            maintenance_runs=self._upkeep.runs,
            ann_index=self._upkeep.ann_index,
        )

    # --- insert ----------------------------------------------------------------------

    async def insert(self, passages: Sequence[Passage]) -> int:
        """Store the passages whose id is new; return how many were new.

        Within one batch the first passage of an id wins. Only new passages are
        embedded. See :meth:`ArchivalStore.insert`.

        Raises:
            UsageError: an invalid passage (nothing of the batch is stored).
            ConfigError: the archive holds vectors but no embedder is configured.
            EmbeddingError: the embedder failed (nothing is stored).
        """
        batch = unique_passages(passages)
        self._check_open()
        if not batch:
            return 0
        if self._embedder is None and self._table.stored_embedder:
            raise ConfigError(
                f"archival memory at {self.path} holds vectors of"
                f" {self._table.stored_embedder!r}: configure that embedder to add passages"
            )
        async with self._write_lock:
            vectors: Vectors | None = None
            if self._embedder is not None:
                batch = await self._not_stored(batch)
                if not batch:
                    return 0
                vectors = await self._embed([p.text for p in batch])
            added = await self._call(self._table.add, batch, vectors)
            if self._ids is not None:
                self._ids.add(p.id for p in batch)
        self._inserted += added
        self._upkeep.note_write(added)
        return added

    async def _not_stored(self, batch: list[Passage]) -> list[Passage]:
        """The passages whose id is not stored: only those need embedding."""
        if self._ids is None:
            self._ids = IdFilter(await self._call(self._table.ids))
        flags = self._ids.maybe_stored([p.id for p in batch])
        suspects = [p.id for p, flagged in zip(batch, flags, strict=True) if flagged]
        if not suspects:
            return batch
        new = await self._call(self._table.missing, suspects)
        stored = set(suspects) - new
        return [p for p in batch if p.id not in stored]

    async def _embed(self, texts: list[str]) -> Vectors:
        assert self._embedder is not None
        vectors = await self._embedder.embed(texts)
        stored = self._table.dim
        if vectors.shape != (len(texts), stored or vectors.shape[1]):
            raise ConfigError(
                f"embedder {self._embedder.name!r} gave vectors of shape {vectors.shape} for"
                f" {len(texts)} texts; archival memory at {self.path} holds length {stored}"
            )
        return vectors

    # --- search ----------------------------------------------------------------------

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
        """One page of the passages of ``owners`` that best match ``query``.

        Filters: owners (any of them), tags (all of them, exact), ``start <= at < end``.
        ``total`` is exact for ``"fulltext"`` (passages holding a word of the query;
        common words like "the" are not indexed) and ``"semantic"`` (every passage
        passing the filters: each has a distance); for ``"hybrid"`` it is the length
        of the fused list, at most twice ``max(hybrid_window, page_size)``. Pages
        past the end are empty. Scores: BM25 (fulltext), cosine similarity
        (semantic), the RRF sum (hybrid).

        Raises:
            UsageError: an empty query, an unknown mode, ``page < 0``, ``page_size``
                outside 1..1000, or a non-finite ``start``/``end``.
            EmbeddingError: embedding the query failed (semantic and hybrid).
        """
        check_search(query, mode=mode, page=page, page_size=page_size, start=start, end=end)
        self._check_open()
        self._searches += 1
        used: SearchMode = mode
        note = None
        if mode != "fulltext" and self._embedder is None:
            used, note = "fulltext", NO_EMBEDDER_NOTE
        owners = list(dict.fromkeys(owners))
        if not owners:
            return ArchivalPage(
                hits=(), total=0, page=page, page_size=page_size, mode=used, note=note
            )
        where = where_sql(owners, list(dict.fromkeys(tags)), start, end)
        hits, total = await self._ranked(used, query, where, page * page_size, page_size)
        return ArchivalPage(
            hits=tuple(PassageHit(passage=p, score=s) for p, s in hits),
            total=total,
            page=page,
            page_size=page_size,
            mode=used,
            note=note,
        )

    async def _ranked(
        self, mode: SearchMode, query: str, where: str, offset: int, limit: int
    ) -> tuple[list[Hit], int]:
        if mode == "fulltext":
            return await self._call(
                functools.partial(fulltext, self._table, query, where, offset=offset, limit=limit)
            )
        vector = (await self._embed([query]))[0]
        if mode == "semantic":
            return await self._both(
                functools.partial(nearest, self._table, vector, where, offset=offset, limit=limit),
                functools.partial(self._table.count, where),
            )
        # One worker thread runs both rankings in turn: each LanceDB query already uses
        # every core, and running them at once measured slower on two cores.
        window = max(self._hybrid_window, limit)
        return await self._call(
            functools.partial(
                hybrid,
                self._table,
                query,
                vector,
                where,
                window=window,
                offset=offset,
                limit=limit,
            )
        )

    async def count(self, owners: Sequence[str]) -> int:
        """How many passages belong to any of ``owners``."""
        self._check_open()
        if not owners:
            return 0
        return await self._call(self._table.count, where_sql(owners, (), None, None))

    async def owners(self) -> list[str]:
        """Every owner with at least one passage, sorted."""
        self._check_open()
        return await self._call(self._table.owners)

    # --- delete ----------------------------------------------------------------------

    async def delete_owner(self, owner: str) -> int:
        """Delete every passage of ``owner``; return how many there were.

        The owner is a quoted value in the filter, never SQL. Inserting a deleted
        passage's id again stores it again (the id filter only ever asks the table).
        See :meth:`ArchivalStore.delete_owner`.
        """
        self._check_open()
        async with self._write_lock:
            deleted = await self._call(
                _delete_rows, self._table, where_sql([owner], (), None, None)
            )
        if deleted:
            self._upkeep.rows = max(0, self._upkeep.rows - deleted)
            self._upkeep.note_write(0)  # deletion files: compaction folds them in
        return deleted

    # --- maintenance -----------------------------------------------------------------

    async def maintain(self) -> None:
        """Bring the table up to date now, and wait: compact small files, fold new rows
        into the indexes, build the FTS index, and the ANN index once the table has
        reached the threshold. The store does this by itself in the background;
        call it to have it done at a known moment (after loading a large source)."""
        self._check_open()
        await self._maintain()

    async def _maintain(self) -> None:
        async with self._maintain_lock:
            self._upkeep.started()
            report = await self._call(
                functools.partial(self._table.maintain, ann_threshold=self._ann_threshold)
            )
        self._upkeep.finished(
            rows=report.rows, fts_index=report.fts_index, ann_index=report.ann_index
        )

    async def _maintenance_loop(self) -> None:
        while True:
            await self._upkeep.wait_due()
            await self._maintain()

    async def _start(self) -> None:
        upkeep = self._upkeep
        upkeep.rows = await self._call(self._table.count)
        upkeep.fts_index, upkeep.ann_index = await self._call(self._table.indexes)
        if upkeep.rows:
            upkeep.schedule()

    # --- plumbing --------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closing:
            raise UsageError(f"archival memory at {self.path} is closed")

    async def _call(self, fn: Callable[[Unpack[Ts]], T], *args: *Ts) -> T:
        if not self._threads:  # simulations: the disk takes no (virtual) time
            await anyio.lowlevel.checkpoint()
            return fn(*args)
        return await anyio.to_thread.run_sync(
            fn, *args, limiter=self._threads_limiter, abandon_on_cancel=False
        )

    async def _both(self, first: Callable[[], T], second: Callable[[], U]) -> tuple[T, U]:
        """Run two calls at once (two worker threads)."""
        if not self._threads:
            return await self._call(first), await self._call(second)
        firsts: list[T] = []
        seconds: list[U] = []

        async def run_first() -> None:
            firsts.append(await self._call(first))

        async def run_second() -> None:
            seconds.append(await self._call(second))

        with single_error():
            async with anyio.create_task_group() as tg:
                tg.start_soon(run_first)
                tg.start_soon(run_second)
        return firsts[0], seconds[0]


def _delete_rows(table: PassageTable, where: str) -> int:
    """Delete the rows matching ``where`` (in a worker thread); return how many."""
    lance = table.attached()
    if lance is None:
        return 0
    # Counted first: not every LanceDB release reports the rows a delete removed, and
    # a delete of nothing would still write a new table version.
    count = int(lance.count_rows(where))
    if count:
        lance.delete(where)
    return count


@asynccontextmanager
async def open_archival(
    path: str | Path,
    *,
    embedder: Embedder | None,
    ann_threshold: int = ANN_THRESHOLD,
    hybrid_window: int = HYBRID_WINDOW,
    refresh_interval: float | None = 1.0,
    maintenance_delay: float = 1.0,
    threads: bool = True,
) -> AsyncIterator[LanceArchivalStore]:
    """Open (or create) the archive in directory ``path`` for the duration of the block.

    A background task keeps the table compact and its indexes current while the
    block runs; leaving the block lets a pass already running finish.

    Args:
        path: A directory, e.g. ``HOME/archival``; created if missing.
        embedder: The embedder that fills (or filled) the archive; ``None`` for
            full-text search only. An archive filled by an embedder can be opened
            without one to search it by full text, but not to add passages.
        ann_threshold: Rows from which vector search uses an ANN index.
        hybrid_window: Hits taken from each ranking for hybrid search.
        refresh_interval: Seconds after which a search sees passages another
            process added (``None``: never).
        maintenance_delay: Seconds without inserts before background maintenance
            runs (30 s at the latest once it is due).
        threads: Run LanceDB in worker threads (default). ``False`` runs it on
            the event loop's thread: for simulations in virtual time.

    Raises:
        ConfigError: ``path`` is not a usable directory, or the archive there was
            filled by another embedder (or without one while one is configured).
    """
    if ann_threshold < 1 or hybrid_window < 1:
        raise UsageError("ann_threshold and hybrid_window must be at least 1")
    refresh = None if refresh_interval is None else timedelta(seconds=refresh_interval)
    name = None if embedder is None else embedder.name
    table = await anyio.to_thread.run_sync(
        functools.partial(PassageTable, Path(path), name, refresh=refresh)
    )
    store = LanceArchivalStore._create(
        table,
        embedder,
        threads=threads,
        ann_threshold=ann_threshold,
        hybrid_window=hybrid_window,
        maintenance_delay=maintenance_delay,
    )
    await store._start()
    with single_error():
        async with anyio.create_task_group() as tg:
            tg.start_soon(store._maintenance_loop, name=f"archival maintenance {path}")
            try:
                yield store
            finally:
                store._closing = True
                tg.cancel_scope.cancel()  # a pass already in its worker thread finishes
