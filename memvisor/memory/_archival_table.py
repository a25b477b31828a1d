"""The passages table on LanceDB, synchronously: every method runs in a worker thread.

```
HOME/archival/passages.lance
  id      string    the idempotency key (merge-insert joins on it)
  owner   string    an agent, or "source:NAME"
  text    string    ── FTS index (BM25; English stemming, stop words dropped)
  at      float64   seconds since the epoch
  tags    list<string>
  origin  string?   e.g. the file a source passage came from
  vector  fixed_size_list<float32, dim>   ── IVF_SQ index (cosine), past a size
schema metadata: memvisor.archival = format version, memvisor.embedder = its name ("" = none)
```

Invariants:

* An id is stored at most once: rows go in by merge-insert on ``id``, so a
  second insert of the same id (another process included) adds nothing.
* The table holds the vectors of one embedder, named in its metadata, or none
  at all; opening it with another embedder is a :class:`ConfigError`.
* Every filter is SQL built here from quoted literals (:func:`where_sql`): an
  owner or tag is always a value, never SQL.
* Searches see every row: rows added since an index was built are searched
  without the index (flat) until :meth:`PassageTable.maintain` folds them in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import lancedb
import msgspec
import numpy as np
import pyarrow as pa
from lancedb.index import FTS, BTree, IvfSq
from lancedb.table import Table as LanceTable

from .._exceptions import ConfigError
from ._archival_model import Passage
from ._embedders import Vectors

__all__ = ["FORMAT", "MaintenanceReport", "PassageTable", "quote", "where_sql"]

TABLE = "passages"
FORMAT = "1"
_FORMAT_KEY = b"memvisor.archival"
_EMBEDDER_KEY = b"memvisor.embedder"
# Files older than this are removed by maintenance (another process may still read them).
_KEEP_OLD_VERSIONS = timedelta(hours=1)


class MaintenanceReport(msgspec.Struct, frozen=True, kw_only=True):
    """The table as one maintenance pass left it."""

    rows: int
    fts_index: bool
    """Whether the full-text (and owner) indexes exist."""
    ann_index: bool
    """Whether the vector index exists."""


def quote(value: str) -> str:
    """An SQL string literal for ``value`` (quotes doubled; no other escapes exist)."""
    return "'" + value.replace("'", "''") + "'"


def where_sql(
    owners: Sequence[str], tags: Sequence[str], start: float | None, end: float | None
) -> str:
    """The filter for owners (any of), tags (all of) and ``start <= at < end``."""
    parts = [f"owner IN ({', '.join(quote(o) for o in owners)})"]
    if tags:
        parts.append(f"array_has_all(tags, make_array({', '.join(quote(t) for t in tags)}))")
    if start is not None:
        parts.append(f"at >= {_number(start)}")
    if end is not None:
        parts.append(f"at < {_number(end)}")
    return " AND ".join(parts)


def _number(value: float) -> str:
    """A float literal that reads back as exactly ``value`` (``repr`` round-trips)."""
    assert math.isfinite(value)
    return repr(float(value))


def passage_schema(embedder: str | None, dim: int | None) -> pa.Schema:
    """The table's schema: a vector column of length ``dim`` when there is an embedder."""
    fields = [
        pa.field("id", pa.string(), nullable=False),
        pa.field("owner", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("at", pa.float64(), nullable=False),
        pa.field("tags", pa.list_(pa.string()), nullable=False),
        pa.field("origin", pa.string(), nullable=True),
    ]
    if dim is not None:
        fields.append(pa.field("vector", pa.list_(pa.float32(), dim), nullable=False))
    metadata = {_FORMAT_KEY: FORMAT.encode(), _EMBEDDER_KEY: (embedder or "").encode()}
    return pa.schema(fields, metadata=metadata)


def passage_rows(
    passages: Sequence[Passage], vectors: Vectors | None, schema: pa.Schema
) -> pa.Table:
    """Passages (and their vectors, row for row) as an Arrow table of ``schema``."""
    columns: dict[str, pa.Array] = {
        "id": pa.array([p.id for p in passages], pa.string()),
        "owner": pa.array([p.owner for p in passages], pa.string()),
        "text": pa.array([p.text for p in passages], pa.string()),
        "at": pa.array([p.at for p in passages], pa.float64()),
        "tags": pa.array([list(p.tags) for p in passages], pa.list_(pa.string())),
        "origin": pa.array([p.origin for p in passages], pa.string()),
    }
    if vectors is not None:
        dim = int(vectors.shape[1])
        flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).ravel(), pa.float32())
        columns["vector"] = pa.FixedSizeListArray.from_arrays(flat, dim)
    return pa.table(columns, schema=schema)


class PassageTable:
    """Synchronous LanceDB access to one archive directory. Not thread-safe for writes:
    the async store serializes them."""

    def __init__(self, path: Path, embedder: str | None, *, refresh: timedelta | None) -> None:
        """Open the archive at ``path`` (a directory), checking who embedded it.

        Raises:
            ConfigError: another embedder (or none) filled it, or it is not an archive.
        """
        self.path = path = path.expanduser()
        if path.exists() and not path.is_dir():
            raise ConfigError(f"archival memory needs a directory, but {path} is a file")
        self._embedder = embedder
        try:
            self._db = lancedb.connect(path, read_consistency_interval=refresh)
        except (OSError, ValueError, RuntimeError) as exc:
            raise ConfigError(f"cannot open archival memory at {path}: {exc}") from None
        self._table: LanceTable | None = None
        self.stored_embedder: str | None = None
        """The embedder whose vectors the table holds ("" for none; None: no table yet)."""
        self.dim: int | None = None
        """The vector length of the table (None without vectors or table)."""
        self.attached()

    # --- opening ---------------------------------------------------------------------

    def attached(self) -> LanceTable | None:
        """The LanceDB table, opened (and checked) if it exists by now."""
        if self._table is None:
            try:
                table = self._db.open_table(TABLE)
            except ValueError:  # "Table 'passages' was not found"
                return None
            self._check(table.schema)
            self._table = table
        return self._table

    def _check(self, schema: pa.Schema) -> None:
        meta = schema.metadata or {}
        if _FORMAT_KEY not in meta:
            raise ConfigError(
                f"{self.path} holds a LanceDB table {TABLE!r} that memvisor did not make;"
                " refusing to touch it (choose another archival directory)"
            )
        version = meta[_FORMAT_KEY].decode()
        if version != FORMAT:
            raise ConfigError(
                f"archival memory at {self.path} has format {version}, this memvisor"
                f" reads format {FORMAT}: use a matching memvisor"
            )
        stored = meta.get(_EMBEDDER_KEY, b"").decode()
        current = self._embedder
        if stored and current is not None and stored != current:
            raise ConfigError(
                f"archival memory at {self.path} was embedded with {stored!r}, but"
                f" {current!r} is configured: configure {stored!r} again, or use a new"
                " archival directory (its passages would be embedded anew)"
            )
        if not stored and current is not None:
            raise ConfigError(
                f"archival memory at {self.path} was filled without an embedder, but"
                f" {current!r} is configured: its passages have no vectors to search."
                " Configure no embedder for it, or use a new archival directory"
            )
        self.stored_embedder = stored
        vector = schema.field("vector").type if "vector" in schema.names else None
        self.dim = int(vector.list_size) if vector is not None else None

    def _create(self, schema: pa.Schema) -> LanceTable:
        try:
            table = self._db.create_table(TABLE, schema=schema, exist_ok=True)
        except ValueError:  # another process made it, with a different schema
            table = self._db.open_table(TABLE)
        self._check(table.schema)
        if not _index_columns(table) >= _SCALAR_INDEXES:
            _create_scalar_indexes(table)  # on the empty table: milliseconds
        self._table = table
        return table

    # --- writes ----------------------------------------------------------------------

    def missing(self, ids: Sequence[str]) -> set[str]:
        """Those of ``ids`` not stored yet."""
        table = self.attached()
        wanted = set(ids)
        if table is None or not wanted:
            return wanted
        where = f"id IN ({', '.join(quote(i) for i in wanted)})"
        if table.count_rows(where) == 0:
            return wanted
        found = table.search().where(where).select(["id"]).limit(None).to_arrow()
        return wanted - set(found.column("id").to_pylist())

    def ids(self) -> list[str]:
        """Every stored id."""
        table = self.attached()
        if table is None:
            return []
        column = table.search().select(["id"]).limit(None).to_arrow().column("id")
        return [str(i) for i in column.to_pylist()]

    def add(self, passages: Sequence[Passage], vectors: Vectors | None) -> int:
        """Insert the passages (with their vectors, row for row) whose id is not stored
        yet; return how many that was."""
        table = self.attached()
        if table is None:
            dim = None if vectors is None else int(vectors.shape[1])
            table = self._create(passage_schema(self._embedder, dim))
        rows = passage_rows(passages, vectors, table.schema)
        result = table.merge_insert("id").when_not_matched_insert_all().execute(rows)
        return int(result.num_inserted_rows)

    # --- reads -----------------------------------------------------------------------

    def count(self, where: str | None = None) -> int:
        """Rows matching ``where`` (all rows when ``None``)."""
        table = self.attached()
        return 0 if table is None else int(table.count_rows(where))

    def owners(self) -> list[str]:
        """Distinct owners, sorted."""
        table = self.attached()
        if table is None:
            return []
        column = table.search().select(["owner"]).limit(None).to_arrow().column("owner")
        return sorted(str(o) for o in column.unique().to_pylist())

    # --- maintenance -----------------------------------------------------------------

    def indexes(self) -> tuple[bool, bool]:
        """Whether the full-text index and the vector (ANN) index exist."""
        table = self.attached()
        if table is None:
            return False, False
        columns = _index_columns(table)
        return columns >= _SCALAR_INDEXES, ("vector",) in columns

    def maintain(self, *, ann_threshold: int) -> MaintenanceReport:
        """Compact small files, fold new rows into the indexes, and build missing ones:
        full-text at once, the vector (ANN) index once the table has ``ann_threshold`` rows.
        """
        table = self.attached()
        if table is None:
            return MaintenanceReport(rows=0, fts_index=False, ann_index=False)
        table.optimize(cleanup_older_than=_KEEP_OLD_VERSIONS)
        fts, ann = self.indexes()
        rows = int(table.count_rows())
        if not fts and rows:
            _create_scalar_indexes(table)
            fts = True
        if not ann and self.dim is not None and rows >= ann_threshold:
            table.create_index("vector", config=IvfSq(distance_type="cosine"), replace=True)
            ann = True
        return MaintenanceReport(rows=rows, fts_index=fts, ann_index=ann)


_SCALAR_INDEXES = {("text",), ("owner",)}


def _index_columns(table: LanceTable) -> set[tuple[str, ...]]:
    return {tuple(index.columns) for index in table.list_indices()}


def _create_scalar_indexes(table: LanceTable) -> None:
    """The full-text index, at once: rows not in it yet are searched with its tokenizer
    (without any index, full-text search would not fold case and accents alike)."""
    table.create_index("text", config=FTS(), replace=True)
    # Every search filters by owner: the index makes that filter ~5x cheaper. (Not on
    # id: merge-insert slows down with it while new rows wait to be indexed.)
    table.create_index("owner", config=BTree(), replace=True)
