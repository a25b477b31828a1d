"""Benchmark archival memory against raw LanceDB calls doing the same work.

Prints ONE JSON object on stdout (progress goes to stderr)::

    {"archival": {"10000": {...}, "100000": {...}}, "recall_search_p50_ms": {"100000": ...}}

For each size, passages get random 384-dim unit vectors and Zipf-distributed
synthetic words. The embedder hands back the precomputed vectors, so embedding
costs nothing on either side and the figures compare storage and search alone.
Each side runs twice per size, taking turns to go first; a speed is the best of
its runs, recall the worst.

* ``insert_per_s``: ``ArchivalStore.insert`` in batches of 1,000 (validation,
  the already-stored check, embedding lookup, Arrow conversion, merge-insert on
  id; background maintenance waits for inserts to pause, as it does for users).
  ``raw_insert_per_s``: the same passages and vectors, built into Arrow and
  merge-inserted on id into a table with the same indexes, with bare LanceDB
  calls (no validation, no already-stored check, no worker thread).
* ``search_p50_ms`` / ``search_p95_ms``: ``ArchivalStore.search`` (hybrid, the
  default mode; two owners of ten; page size 5) after maintenance.
  ``raw_search_p50_ms``: LanceDB's own hybrid query (vector + full text, its
  RRF reranker, the same window, filter and index settings) on a raw table
  with the same indexes.
* ``ann_recall@10``: semantic top-10 of the store against exact search
  (the index bypassed) on the same table: 1.0 below the ANN threshold.
* ``recall_search_p50_ms``: recall memory's search at the largest size, from
  ``scripts/_bench_recall.py`` (``null`` when that module is missing).

Usage::

    .venv/bin/python scripts/bench_memory.py [--quick] [--sizes 10000,100000]
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

import anyio
import lancedb
import msgspec
import numpy as np
import numpy.typing as npt
import pyarrow as pa
from lancedb.index import FTS, BTree, IvfSq
from lancedb.query import LanceHybridQueryBuilder, LanceVectorQueryBuilder
from lancedb.rerankers import RRFReranker
from lancedb.table import Table

from memvisor.memory._archival import (
    ANN_THRESHOLD,
    HYBRID_WINDOW,
    LanceArchivalStore,
    Passage,
    open_archival,
)
from memvisor.memory._archival_search import NPROBES, REFINE_FACTOR, match_query
from memvisor.memory._archival_table import passage_schema, where_sql

DIM = 384
OWNERS = 10
SEARCH_OWNERS = ["agent-1", "agent-2"]
BATCH = 1_000
VOCABULARY = 5_000
WORDS_PER_PASSAGE = 24
_EPOCH = 1_700_000_000.0

Matrix = npt.NDArray[np.float32]


class Config(msgspec.Struct, frozen=True, kw_only=True):
    """Sizes of one run."""

    sizes: tuple[int, ...]
    queries: int
    """Searches timed per size (after a few untimed warm-up ones)."""
    repeat: int
    """Runs of each side per size; each figure is the best of them."""
    recall_queries: int
    seed: int
    tmpdir: str | None
    ann_sweep: tuple[int, ...] = ()


class Dataset:
    """Passages, their vectors, and queries with theirs: deterministic for a seed."""

    def __init__(self, n: int, queries: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        words = np.minimum(rng.zipf(1.3, size=(n, WORDS_PER_PASSAGE)), VOCABULARY) - 1
        self.passages = [
            Passage(
                id=f"agent-{i % OWNERS}:{i}",
                owner=f"agent-{i % OWNERS}",
                text=f"p{i} " + " ".join(f"w{w}" for w in row),
                at=_EPOCH + i,
                tags=(f"t{i % 3}",),
            )
            for i, row in enumerate(words.tolist())
        ]
        self.vectors = _unit(rng.standard_normal((n, DIM), dtype=np.float32))
        # Query words of middling frequency: each matches some, not most, passages.
        query_words = rng.integers(20, 400, size=(queries, 2)).tolist()
        self.queries = [f"w{a} w{b}" for a, b in query_words]
        self.query_vectors = _unit(rng.standard_normal((queries, DIM), dtype=np.float32))
        self.by_text = {p.text: i for i, p in enumerate(self.passages)}
        self.by_query = {q: i for i, q in enumerate(self.queries)}


def _unit(matrix: Matrix) -> Matrix:
    return cast(Matrix, matrix / np.linalg.norm(matrix, axis=1, keepdims=True))


class PrecomputedEmbedder:
    """Hands back the dataset's vectors: embedding costs nothing in this benchmark."""

    name = f"bench:random-{DIM}"
    dim = DIM

    def __init__(self, data: Dataset) -> None:
        self._data = data

    async def embed(self, texts: Sequence[str]) -> Matrix:
        data = self._data
        first, last = data.by_text.get(texts[0], -1), data.by_text.get(texts[-1], -1)
        if first >= 0 and last - first == len(texts) - 1:  # a run of passages: a view
            return data.vectors[first : last + 1]
        rows = [data.by_text.get(t, -1) for t in texts]
        if all(r >= 0 for r in rows):
            return data.vectors[rows]
        return data.query_vectors[[data.by_query[t] for t in texts]]


def _percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _ms(samples: Sequence[float]) -> tuple[float, float]:
    return round(_percentile(samples, 0.5) * 1000, 2), round(_percentile(samples, 0.95) * 1000, 2)


# --- our store --------------------------------------------------------------------------


async def bench_store(data: Dataset, path: Path, cfg: Config) -> dict[str, float]:
    """Insert, maintain, search and measure recall through the store."""
    async with open_archival(path, embedder=PrecomputedEmbedder(data)) as store:
        started = time.perf_counter()
        for i in range(0, len(data.passages), BATCH):
            await store.insert(data.passages[i : i + BATCH])
        insert_s = time.perf_counter() - started
        await store.maintain()
        times = []
        for i, query in enumerate(data.queries[: cfg.queries + 5]):
            started = time.perf_counter()
            await store.search(query, owners=SEARCH_OWNERS)
            if i >= 5:  # the first few warm caches up
                times.append(time.perf_counter() - started)
        recall = await _recall(store, data, path, cfg.recall_queries)
    p50, p95 = _ms(times)
    return {
        "insert_per_s": round(len(data.passages) / insert_s),
        "search_p50_ms": p50,
        "search_p95_ms": p95,
        "ann_recall@10": recall,
    }


async def _recall(store: LanceArchivalStore, data: Dataset, path: Path, queries: int) -> float:
    """Mean overlap of the store's semantic top 10 with the exact top 10."""
    table = lancedb.connect(path).open_table("passages")
    owners = [f"agent-{i}" for i in range(OWNERS)]
    where = where_sql(owners, (), None, None)
    found = 0
    for i in range(queries):
        page = await store.search(data.queries[i], owners=owners, mode="semantic", page_size=10)
        vector_search = cast(LanceVectorQueryBuilder, table.search(data.query_vectors[i]))
        exact = (
            vector_search.distance_type("cosine")
            .bypass_vector_index()
            .where(where)
            .limit(10)
            .select(["id"])
            .to_arrow()
        )
        truth = set(exact.column("id").to_pylist())
        found += len(truth & {h.passage.id for h in page.hits})
    return round(found / (10 * queries), 3)


# --- raw LanceDB ------------------------------------------------------------------------


def bench_raw(data: Dataset, path: Path, cfg: Config) -> dict[str, float]:
    """The same inserts and searches with bare LanceDB calls, on the calling thread."""
    n = len(data.passages)
    started = time.perf_counter()
    table = lancedb.connect(path).create_table("passages", schema=passage_schema("raw", DIM))
    table.create_index("text", config=FTS())  # as the store does, on the empty table
    table.create_index("owner", config=BTree())
    for i in range(0, n, BATCH):
        rows = _arrow(data, i, min(n, i + BATCH), table.schema)
        table.merge_insert("id").when_not_matched_insert_all().execute(rows)
    insert_s = time.perf_counter() - started
    table.optimize()
    if len(data.passages) >= ANN_THRESHOLD:
        table.create_index("vector", config=IvfSq(distance_type="cosine"))
    times = _raw_searches(table, data, cfg.queries)
    return {"raw_insert_per_s": round(len(data.passages) / insert_s), "raw_search_p50_ms": times}


def _raw_searches(table: Table, data: Dataset, queries: int) -> float:
    where = where_sql(SEARCH_OWNERS, (), None, None)
    reranker = RRFReranker(K=60)
    times = []
    for i in range(queries + 5):
        started = time.perf_counter()
        search = cast(LanceHybridQueryBuilder, table.search(query_type="hybrid"))
        result = (
            search.vector(data.query_vectors[i])
            .text(match_query(data.queries[i]))
            .distance_type("cosine")
            .minimum_nprobes(NPROBES)
            .maximum_nprobes(0)
            .where(where)
            .rerank(reranker)
            .limit(HYBRID_WINDOW)
            .select(["id", "owner", "text", "at", "tags", "origin"])
            .to_arrow()
        )
        result.slice(0, 5).to_pylist()
        if i >= 5:
            times.append(time.perf_counter() - started)
    return _ms(times)[0]


# --- driver -----------------------------------------------------------------------------


KEYS = (
    "insert_per_s",
    "raw_insert_per_s",
    "search_p50_ms",
    "search_p95_ms",
    "raw_search_p50_ms",
    "ann_recall@10",
)


def bench_size(n: int, cfg: Config) -> dict[str, float]:
    """Every figure for one size, ours beside raw, in this process.

    Each side runs ``cfg.repeat`` times, taking turns to go first (the machine is
    shared and noisy); each speed is the best of its runs, recall the worst.
    """
    data = Dataset(n, cfg.queries + 5, cfg.seed)
    runs: list[dict[str, float]] = []
    for round_ in range(cfg.repeat):
        with tempfile.TemporaryDirectory(dir=cfg.tmpdir) as tmp:
            sides = [("store", _ours), ("raw LanceDB", _raw)]
            for label, side in sides if round_ % 2 == 0 else sides[::-1]:
                print(f"[{n}] {label} (run {round_ + 1}/{cfg.repeat}) ...", file=sys.stderr)
                runs.append(side(data, Path(tmp) / label.split()[0], cfg))
    figures: dict[str, float] = {}
    for run in runs:
        for key, value in run.items():
            # Best of the runs for speed; the worst for recall (no flattering it).
            pick = min if key.endswith("_ms") or key.startswith("ann_recall") else max
            figures[key] = pick(figures.get(key, value), value)
    return {key: figures[key] for key in KEYS}


def _ours(data: Dataset, path: Path, cfg: Config) -> dict[str, float]:
    return anyio.run(bench_store, data, path, cfg, backend="trio")


def _raw(data: Dataset, path: Path, cfg: Config) -> dict[str, float]:
    return bench_raw(data, path, cfg)


def ann_sweep(sizes: Sequence[int], cfg: Config) -> dict[str, dict[str, float]]:
    """Exact (flat) against IVF_SQ vector search by table size: the ANN threshold's basis.

    Per size: p50 of a filtered top-5 search without an index and with one (the
    store's probes and re-ranking), the index's build time, and its recall@10.
    """
    result: dict[str, dict[str, float]] = {}
    for n in sizes:
        data = Dataset(n, cfg.queries, cfg.seed)
        with tempfile.TemporaryDirectory(dir=cfg.tmpdir) as tmp:
            table = lancedb.connect(tmp).create_table("passages", schema=passage_schema("x", DIM))
            for i in range(0, n, 10_000):
                table.add(_arrow(data, i, min(n, i + 10_000), table.schema))
            table.optimize()
            flat = _vector_p50(table, data, cfg.queries, index=False)
            started = time.perf_counter()
            table.create_index("vector", config=IvfSq(distance_type="cosine"))
            build = time.perf_counter() - started
            indexed = _vector_p50(table, data, cfg.queries, index=True)
            recall = _ann_recall(table, data, cfg.recall_queries)
        print(f"[sweep {n}] flat {flat} ms, ivf_sq {indexed} ms", file=sys.stderr)
        result[str(n)] = {
            "flat_p50_ms": flat,
            "ann_p50_ms": indexed,
            "ann_build_s": round(build, 3),
            "ann_recall@10": recall,
        }
    return result


def _arrow(data: Dataset, start: int, stop: int, schema: pa.Schema) -> pa.Table:
    """Passages ``start:stop`` and their vectors as Arrow, the plain way."""
    chunk = data.passages[start:stop]
    return pa.table(
        {
            "id": [p.id for p in chunk],
            "owner": [p.owner for p in chunk],
            "text": [p.text for p in chunk],
            "at": [p.at for p in chunk],
            "tags": [list(p.tags) for p in chunk],
            "origin": pa.nulls(len(chunk), pa.string()),
            "vector": pa.FixedSizeListArray.from_arrays(
                pa.array(data.vectors[start:stop].ravel()), DIM
            ),
        },
        schema=schema,
    )


def _vector_query(table: Table, vector: Matrix, *, index: bool) -> LanceVectorQueryBuilder:
    search = cast(LanceVectorQueryBuilder, table.search(vector)).distance_type("cosine")
    if not index:
        return search.bypass_vector_index()
    return search.minimum_nprobes(NPROBES).maximum_nprobes(0).refine_factor(REFINE_FACTOR)


def _vector_p50(table: Table, data: Dataset, queries: int, *, index: bool) -> float:
    where = where_sql(SEARCH_OWNERS, (), None, None)
    times = []
    for i in range(queries):
        started = time.perf_counter()
        search = _vector_query(table, data.query_vectors[i], index=index)
        search.where(where).limit(5).select(["id", "_distance"]).to_arrow()
        times.append(time.perf_counter() - started)
    return _ms(times[3:])[0]


def _ann_recall(table: Table, data: Dataset, queries: int) -> float:
    found = 0
    for i in range(queries):
        got = [
            set(
                _vector_query(table, data.query_vectors[i], index=index)
                .limit(10)
                .select(["id"])
                .to_arrow()
                .column("id")
                .to_pylist()
            )
            for index in (True, False)
        ]
        found += len(got[0] & got[1])
    return round(found / (10 * queries), 3)


def recall_search(n: int) -> float | None:
    """Recall memory's search p50 from ``scripts/_bench_recall.py``, if it exists yet."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    try:
        module = importlib.import_module("_bench_recall")
    except ImportError as exc:
        print(f"recall_search_p50_ms: null ({exc})", file=sys.stderr)
        return None
    fn = cast(Callable[[int], float], module.recall_search_p50_ms)
    return round(float(fn(n)), 2)


def parse_args(argv: Sequence[str] | None) -> Config:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: seconds, not minutes")
    parser.add_argument("--sizes", help="comma-separated passage counts (default 10000,100000)")
    parser.add_argument("--repeat", type=int, help="runs per side (default 2; --quick: 1)")
    parser.add_argument(
        "--ann-sweep",
        help="also time exact vs IVF_SQ search at these sizes (comma-separated), as 'ann_sweep'",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--tmpdir", help="where the tables go (default: the system's temp)")
    args = parser.parse_args(argv)
    if args.sizes:
        sizes = tuple(int(s) for s in args.sizes.split(","))
    else:
        sizes = (2_000, 6_000) if args.quick else (10_000, 100_000)
    return Config(
        sizes=sizes,
        queries=30 if args.quick else 200,
        repeat=args.repeat or (1 if args.quick else 2),
        recall_queries=20 if args.quick else 100,
        seed=args.seed,
        tmpdir=args.tmpdir,
        ann_sweep=tuple(int(s) for s in args.ann_sweep.split(",")) if args.ann_sweep else (),
    )


def warm_up(cfg: Config) -> None:
    """One small untimed run of both sides: LanceDB's runtime, thread pools and caches
    start warm for whichever side goes first."""
    small = msgspec.structs.replace(cfg, queries=5, recall_queries=1, repeat=1)
    bench_size(1_000, small)


def main(argv: Sequence[str] | None = None) -> int:
    cfg = parse_args(argv)
    warm_up(cfg)
    archival = {str(n): bench_size(n, cfg) for n in cfg.sizes}
    largest = max(cfg.sizes)
    result: dict[str, object] = {
        "archival": archival,
        "recall_search_p50_ms": {str(largest): recall_search(largest)},
    }
    if cfg.ann_sweep:
        result["ann_sweep"] = ann_sweep(cfg.ann_sweep, cfg)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
