"""The embedded log: one SQLite database in WAL mode, with group commit.

```
 agent tasks                  writer task (event loop)          worker thread
 ───────────                  ────────────────────────          ─────────────
 append(events) ─┐ check seq,
 append(events) ─┼─ encode, ──► pending batch ──swap──► write_batch(batch) ──► BEGIN
 append(events) ─┘ enqueue        (wake writer)                            INSERT …
      ▲                                                                    COMMIT (fsync)
      └──────────── batch.done ◄───────────────────── returns ◄────────────────┘
```

While one batch commits, new appends collect in the next one, so appends that
arrive together share one transaction and one fsync, and each append returns
only once its transaction is durable. The same transaction indexes the
messages among the events for recall (``_sqlite_recall``).

Invariants:

* ``(stream, seq)`` is unique: a second writer claiming a seq collides and gets
  :class:`ConflictError`; only its own append fails, never its batch mates.
* Rows are stored in arrival order (``id``), with the per-agent order in an
  index: a commit of many agents' events appends to a few table pages (plus one
  index leaf per agent), where keying the table itself by (agent, seq) would
  scatter whole rows over one table page per agent.
* Every stored frame carries a CRC (see ``_codec``); a damaged one is reported as
  :class:`CorruptLogError` with its agent and seq, never skipped.
* Deleting an agent (:meth:`SqliteEventLog.delete`) is one transaction on the
  writer connection, taken between two group commits: its events, its recall
  rows, and its stream row, so that a new agent of the same name starts afresh.
* A file that is not a memvisor log is refused and left byte-for-byte untouched.
* Schema versions: 1 (events only) and 2 (with recall). Opening a version-1 log
  upgrades it in one transaction (recall is built from the stored events); a
  log of a newer version is refused.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar, TypeVarTuple, Unpack

import anyio

from .._exceptions import (
    ConflictError,
    CorruptLogError,
    ForeignFileError,
    LogError,
    UsageError,
)
from .._util import single_error
from ._codec import encode_event, event_type
from ._log import Durability, LogStatistics, check_append
from ._recall import RecallPage, RecallQuery, check_query, message_of
from ._sqlite_recall import (
    INCOMING_SQL,
    RECALL_SCHEMA,
    backfill_recall,
    count_recall,
    decode_stored,
    delete_recall,
    search_recall,
)
from ._types import Event

__all__ = ["SqliteEventLog", "open_sqlite_log"]

APPLICATION_ID = 0x6D766C67  # "mvlg"
SCHEMA_VERSION = 2
_SQLITE_MAGIC = b"SQLite format 3\x00"

_EVENTS_SCHEMA = """
CREATE TABLE streams (
    id    INTEGER PRIMARY KEY,
    name  TEXT NOT NULL UNIQUE
);
CREATE TABLE events (
    id      INTEGER PRIMARY KEY,
    stream  INTEGER NOT NULL REFERENCES streams(id),
    seq     INTEGER NOT NULL,
    type    TEXT NOT NULL,
    at      REAL NOT NULL,
    body    BLOB NOT NULL,
    UNIQUE (stream, seq)
);
"""
_SCHEMA = _EVENTS_SCHEMA + RECALL_SCHEMA

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


_MAX_SEQ = 2**62
_COLS = 6  # agent, seq, type, at, frame, recall text (None if no message): one row
_ROWS_PER_INSERT = 2000  # 12,000 parameters, well under SQLite's 32,766 limit
_Span = tuple[str, int, int]  # agent, index of its first row in the batch, row count


@functools.lru_cache(maxsize=128)
def _insert_sql(n: int, conflict: str) -> str:
    # One row per event into the writer's temporary view, whose trigger writes
    # the event and, for a message, its recall row (see _sqlite_recall).
    values = ",".join(["(?,?,?,?,?,?)"] * n)
    return f"INSERT {conflict} INTO incoming(agent, seq, type, at, body, text) VALUES {values}"


class _Store:
    """Synchronous SQLite access; every method runs in a worker thread.

    Holds two connections: one for the writer, one for readers (WAL lets readers
    see committed data without blocking the writer).
    """

    def __init__(self, path: Path, durability: Durability) -> None:
        self.path = path
        refuse_foreign_file(path, "a memvisor log")
        self._w = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            version = self._version()  # reads only: a foreign file stays byte-for-byte intact
            self._configure(self._w, durability)
            if version == 0:
                # One transaction: a crash mid-way leaves an empty file, never a half-made log.
                self._w.executescript(
                    f"BEGIN IMMEDIATE; {_SCHEMA} PRAGMA application_id={APPLICATION_ID};"
                    f" PRAGMA user_version={SCHEMA_VERSION}; COMMIT;"
                )
            elif version < SCHEMA_VERSION:
                self._transaction(self._upgrade)
            self._w.executescript(INCOMING_SQL)
            self._r = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._configure(self._r, durability)
        except sqlite3.DatabaseError as exc:
            self._w.close()
            raise CorruptLogError(
                f"{path} cannot be opened as a memvisor log ({exc}); it was not modified"
            ) from None
        except BaseException:
            self._w.close()
            raise

    @staticmethod
    def _configure(conn: sqlite3.Connection, durability: Durability) -> None:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={durability.upper()}")
        conn.execute("PRAGMA busy_timeout=10000")
        conn.execute("PRAGMA temp_store=MEMORY")
        # Checkpoint every ~32 MiB of WAL, not every 4 MiB: a commit of many agents
        # dirties one index page per agent, and frequent checkpoints stall the writer.
        conn.execute("PRAGMA wal_autocheckpoint=8192")

    def _version(self) -> int:
        """The log's schema version, 0 for an empty database; raise if the file
        belongs to someone else or to a newer memvisor."""
        conn = self._w
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        if app_id == APPLICATION_ID:
            version: int = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise ForeignFileError(
                    f"{self.path} was written by a newer memvisor (log schema {version},"
                    f" this one knows {SCHEMA_VERSION}); upgrade memvisor to open it"
                )
            return version
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if app_id != 0 or tables:
            raise ForeignFileError(
                f"{self.path} is an SQLite database of another program, not a memvisor log;"
                " refusing to touch it (choose another --home)"
            )
        return 0

    def _upgrade(self) -> None:
        """Version 1 → 2, inside one transaction: build recall from the stored events."""
        conn = self._w
        # Re-read under the write lock: another process may have upgraded it meanwhile.
        if conn.execute("PRAGMA user_version").fetchone()[0] == 1:
            conn.execute(RECALL_SCHEMA)
            backfill_recall(conn)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        self._r.close()
        self._w.close()

    # --- writes (writer connection) ----------------------------------------------
    #
    # The rows arrive already flattened into SQL parameters, and each chunk is one
    # multi-row INSERT: the sqlite3 module drops and retakes the GIL around every
    # statement step, and retaking it while the event loop is busy can cost a
    # whole switch interval, so Python work in this thread is kept to a minimum.

    def write_batch(
        self, params: list[object], spans: Sequence[_Span], new_streams: Sequence[str]
    ) -> list[LogError | None]:
        """Commit every append of a batch, recall rows included, in one transaction.

        Returns one entry per span: ``None`` if it is durable, else its error. A
        conflicting append fails alone: the others are retried without it.
        """
        try:
            if new_streams or len(params) > _ROWS_PER_INSERT * _COLS:
                self._transaction(lambda: self._insert(params, new_streams))
            else:
                # The usual batch is one statement, hence its own transaction: the
                # worker thread then retakes the GIL once, when all is written,
                # instead of after BEGIN, INSERT and COMMIT each, every time
                # waiting for the event loop to pause. OR ABORT: a failure rolls
                # the whole statement, thus the whole transaction, back.
                self._w.execute(_insert_sql(len(params) // _COLS, "OR ABORT"), params)
        except sqlite3.IntegrityError:
            return self._write_each(params, spans)
        except sqlite3.Error as exc:
            return [LogError(f"could not write to {self.path}: {exc}") for _ in spans]
        return [None] * len(spans)

    def _write_each(self, params: list[object], spans: Sequence[_Span]) -> list[LogError | None]:
        """Retry each append alone; once one of an agent's appends fails, its later ones
        in the batch fail too (they were built on it: writing them would leave a gap)."""
        results: list[LogError | None] = []
        failed: set[str] = set()
        for span in spans:
            agent = span[0]
            if agent in failed:
                result: LogError | None = ConflictError(
                    "an earlier append of this agent in the same commit failed",
                    actor_id=agent,
                    seq=int(params[span[1] * _COLS + 1]),  # type: ignore[call-overload]
                )
            else:
                result = self._write_alone(params, span)
            if result is not None:
                failed.add(agent)
            results.append(result)
        return results

    def _write_alone(self, params: list[object], span: _Span) -> LogError | None:
        agent, first, count = span
        mine = params[first * _COLS : (first + count) * _COLS]
        try:
            self._transaction(lambda: self._insert(mine, (agent,)))
        except sqlite3.IntegrityError:
            return ConflictError(
                "another writer appended this seq first",
                actor_id=agent,
                seq=int(mine[1]),  # type: ignore[call-overload]
            )
        except sqlite3.Error as exc:
            return LogError(f"could not write to {self.path}: {exc}", actor_id=agent)
        return None

    def _insert(self, params: list[object], new_streams: Sequence[str]) -> None:
        conn = self._w
        if new_streams:
            conn.executemany(
                "INSERT OR IGNORE INTO streams(name) VALUES (?)", [(n,) for n in new_streams]
            )
        step = _ROWS_PER_INSERT * _COLS
        for i in range(0, len(params), step):
            chunk = params[i : i + step]
            # OR FAIL: no statement journal (a temp file per commit otherwise); a
            # failed insert still rolls back: _transaction rolls the batch back.
            conn.execute(_insert_sql(len(chunk) // _COLS, "OR FAIL"), chunk)

    def delete(self, agent: str) -> int:
        """Delete the agent's events, recall rows and stream in one transaction."""
        conn = self._w
        deleted = [0]

        def body() -> None:
            row = conn.execute("SELECT id FROM streams WHERE name = ?", (agent,)).fetchone()
            if row is None:
                return
            stream = int(row[0])
            left = delete_recall(conn, agent, stream)
            deleted[0] = conn.execute("DELETE FROM events WHERE stream = ?", (stream,)).rowcount
            if left:
                # Recall rows of damaged events remain under this stream id: retire the
                # id (a name no agent can take), so no later agent finds them.
                retired = f"\x00deleted:{stream}"
                conn.execute("UPDATE streams SET name = ? WHERE id = ?", (retired, stream))
            else:
                conn.execute("DELETE FROM streams WHERE id = ?", (stream,))

        try:
            self._transaction(body)
        except sqlite3.Error as exc:
            raise LogError(f"could not delete from {self.path}: {exc}", actor_id=agent) from None
        return deleted[0]

    def _transaction(self, body: Callable[[], object]) -> None:
        conn = self._w
        conn.execute("BEGIN IMMEDIATE")
        try:
            body()
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # --- reads (reader connection) -----------------------------------------------

    def read(self, agent: str, start: int, stop: int | None, limit: int | None) -> list[Event]:
        rows = self._r.execute(
            "SELECT e.seq, e.body FROM events e JOIN streams s ON s.id = e.stream"
            " WHERE s.name = ? AND e.seq >= ? AND e.seq < ? ORDER BY e.seq LIMIT ?",
            (agent, _clamp(start), _clamp(stop), -1 if limit is None else _clamp(limit)),
        ).fetchall()
        return [decode_stored(agent, seq, body) for seq, body in rows]

    def tail(self, agent: str, n: int) -> list[Event]:
        rows = self._r.execute(
            "SELECT e.seq, e.body FROM events e JOIN streams s ON s.id = e.stream"
            " WHERE s.name = ? ORDER BY e.seq DESC LIMIT ?",
            (agent, _clamp(n)),
        ).fetchall()
        return [decode_stored(agent, seq, body) for seq, body in reversed(rows)]

    def last_seq(self, agent: str) -> int:
        row = self._r.execute(
            "SELECT max(e.seq) FROM events e JOIN streams s ON s.id = e.stream WHERE s.name = ?",
            (agent,),
        ).fetchone()
        return int(row[0] or 0)

    def agents(self) -> list[str]:
        rows = self._r.execute(
            "SELECT name FROM streams s WHERE EXISTS"
            " (SELECT 1 FROM events e WHERE e.stream = s.id) ORDER BY name"
        ).fetchall()
        return [name for (name,) in rows]

    def search_recall(self, agent: str, query: RecallQuery) -> RecallPage:
        return search_recall(self._r, agent, query)

    def count_recall(self, agent: str) -> int:
        return count_recall(self._r, agent)


def _clamp(n: int | None) -> int:
    """An SQL integer bound: ``None`` is unbounded, negatives are 0, huge values fit."""
    return _MAX_SEQ if n is None else min(max(n, 0), _MAX_SEQ)


def refuse_foreign_file(path: Path, what: str) -> None:
    """Raise unless ``path`` is missing, empty or an SQLite database (``what`` it
    should be is named in the error); never modifies it."""
    if path.is_dir():
        raise ForeignFileError(f"{path} is a directory, not {what}")
    try:
        with path.open("rb") as f:
            head = f.read(len(_SQLITE_MAGIC))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise LogError(f"cannot read {path}: {exc.strerror}") from None
    if head and head != _SQLITE_MAGIC:
        raise ForeignFileError(
            f"{path} is not {what} (not an SQLite database); refusing to touch it"
        )


class _Batch:
    """Appends that will share one transaction."""

    __slots__ = ("done", "new_streams", "params", "results", "rows", "spans")

    def __init__(self) -> None:
        self.params: list[object] = []
        self.spans: list[_Span] = []
        self.new_streams: list[str] = []
        self.rows = 0
        self.done = anyio.Event()
        self.results: list[LogError | None] = []


class SqliteEventLog:
    """The embedded :class:`~memvisor.events.EventLog`. Open it with :func:`open_sqlite_log`."""

    def __init__(self, store: _Store, *, threads: bool) -> None:
        self._store = store
        self._threads = threads
        self._next_seq: dict[str, int] = {}
        self._known_streams: set[str] = set()
        self._pending = _Batch()
        self._taken = self._pending  # the batch the writer took last
        self._wakeup = anyio.Event()
        self._closing = False
        self._closed = False
        self._reader = anyio.CapacityLimiter(1)
        self._seq_lookup = anyio.Lock()
        self._writer = anyio.Lock()  # a commit or a delete: one at a time on the writer
        self._appends = self._events = self._commits = 0

    @property
    def path(self) -> Path:
        """The database file."""
        return self._store.path

    async def append(self, events: Sequence[Event]) -> None:
        """Append one agent's events; returns once their commit is durable.

        Cancelling the caller does not withdraw an append already queued.
        See :meth:`EventLog.append` for the rules and errors.
        """
        if not events:
            return
        if self._closing:
            raise LogError("the log is closed", actor_id=events[0].agent)
        agent = events[0].agent
        if agent not in self._next_seq or self._seq_lookup.locked():
            # FIFO: appends that arrive while a stream's next seq is looked up wait in
            # arrival order, so callers that claimed consecutive seqs check in order.
            async with self._seq_lookup:
                if agent not in self._next_seq:
                    self._next_seq[agent] = await self.last_seq(agent) + 1
                check_append(events, self._next_seq[agent] - 1)
                self._next_seq[agent] = events[-1].seq + 1
        else:
            check_append(events, self._next_seq[agent] - 1)
            self._next_seq[agent] = events[-1].seq + 1  # reserved until the commit says otherwise
        batch = self._pending
        index = len(batch.spans)
        batch.spans.append((agent, batch.rows, len(events)))
        batch.rows += len(events)
        params = batch.params
        for e in events:
            entry = message_of(e)  # recall is indexed in the events' own transaction
            text = None if entry is None else entry.text
            params += (agent, e.seq, event_type(e), e.at, encode_event(e), text)
        if agent not in self._known_streams:
            batch.new_streams.append(agent)
        self._wakeup.set()
        await batch.done.wait()
        error = batch.results[index]
        if error is not None:
            raise error
        self._appends += 1
        self._events += len(events)

    async def _write_loop(self) -> None:
        while True:
            if not self._pending.spans:
                if self._closing:
                    return
                await self._wakeup.wait()
                self._wakeup = anyio.Event()
                continue
            batch, self._pending = self._pending, _Batch()
            self._taken = batch
            await self._commit(batch)

    async def _commit(self, batch: _Batch) -> None:
        try:
            async with self._writer:
                try:
                    batch.results = await self._call(
                        self._store.write_batch, batch.params, batch.spans, batch.new_streams
                    )
                    self._commits += 1
                finally:
                    self._settle(batch)  # under the lock: a delete then sees it settled
        finally:
            if not batch.done.is_set():  # cancelled while waiting for the lock
                self._settle(batch)

    def _settle(self, batch: _Batch) -> None:
        """Record the batch's outcome and release its waiters."""
        if not batch.results:  # the writer itself failed: fail every waiter
            batch.results = [LogError("the log writer stopped") for _ in batch.spans]
        for (agent, _, _), result in zip(batch.spans, batch.results, strict=True):
            if result is None:
                self._known_streams.add(agent)
            else:
                self._next_seq.pop(agent, None)  # re-read from disk next time
        batch.done.set()

    async def _read(self, fn: Callable[[Unpack[Ts]], T], *args: *Ts) -> T:
        if self._closed:
            raise LogError("the log is closed")
        return await self._call(fn, *args, limiter=self._reader)

    async def _call(
        self,
        fn: Callable[[Unpack[Ts]], T],
        *args: *Ts,
        limiter: anyio.CapacityLimiter | None = None,
    ) -> T:
        if not self._threads:  # simulations: the disk takes no (virtual) time
            await anyio.lowlevel.checkpoint()
            return fn(*args)
        return await anyio.to_thread.run_sync(fn, *args, limiter=limiter, abandon_on_cancel=False)

    async def read(
        self, agent: str, *, start: int = 1, stop: int | None = None, limit: int | None = None
    ) -> list[Event]:
        """Events of ``agent`` with ``start <= seq < stop`` (at most ``limit``), in order.

        Raises:
            CorruptLogError: a stored event in the range is damaged.
        """
        return await self._read(self._store.read, agent, start, stop, limit)

    async def tail(self, agent: str, n: int) -> list[Event]:
        """The last ``n`` events of ``agent``, in order."""
        return await self._read(self._store.tail, agent, n)

    async def last_seq(self, agent: str) -> int:
        """The highest committed ``seq`` of ``agent``, 0 if it has none."""
        return await self._read(self._store.last_seq, agent)

    async def agents(self) -> list[str]:
        """Names of every agent with at least one event, sorted."""
        return await self._read(self._store.agents)

    async def search_recall(self, agent: str, query: RecallQuery) -> RecallPage:
        """One page of ``agent``'s messages matching ``query``.

        See :meth:`EventLog.search_recall`.

        Raises:
            UsageError: the query is malformed (see :class:`RecallQuery`).
            CorruptLogError: the stored event of a hit is damaged.
        """
        check_query(query)
        return await self._read(self._store.search_recall, agent, query)

    async def count_recall(self, agent: str) -> int:
        """How many of ``agent``'s events are messages in recall."""
        return await self._read(self._store.count_recall, agent)

    async def delete(self, agent: str) -> int:
        """Delete every event of ``agent`` and its recall rows in one transaction.

        See :meth:`EventLog.delete`. Appends of other agents wait for it (or it
        for them); counters of :meth:`statistics` are unchanged.

        Raises:
            UsageError: appends of ``agent`` are waiting to be written.
            LogError: the log is closed, or the database refused the deletion.
        """
        if self._closing:
            raise LogError("the log is closed", actor_id=agent)
        async with self._writer:
            waiting = [*self._pending.spans]
            if not self._taken.done.is_set():
                waiting += self._taken.spans
            if any(span[0] == agent for span in waiting):
                raise UsageError(
                    f"cannot delete {agent!r} while its appends wait to be written"
                    " (stop the agent first)",
                    actor_id=agent,
                )
            deleted = await self._call(self._store.delete, agent)
            self._next_seq.pop(agent, None)
            self._known_streams.discard(agent)
        return deleted

    def statistics(self) -> LogStatistics:
        """Appends, events and commits since the log was opened."""
        return LogStatistics(appends=self._appends, events=self._events, commits=self._commits)

    def _fail_pending(self) -> None:
        """Release appends that the writer never took (it was cancelled): they failed."""
        batch = self._pending
        if batch.spans:
            batch.results = [
                LogError("the log closed before this append was written") for _ in batch.spans
            ]
            batch.done.set()


@asynccontextmanager
async def open_sqlite_log(
    path: str | Path, *, durability: Durability = "full", threads: bool = True
) -> AsyncIterator[SqliteEventLog]:
    """Open (or create) the SQLite log at ``path`` for the duration of the block.

    Leaving the block commits every append already made, then closes the file.

    Args:
        path: The database file. Its directory is created if missing.
        durability: ``"full"`` (default) fsyncs every commit; ``"normal"`` is
            faster and loses at most the last commits on power loss (never on a
            process crash).
        threads: Run SQLite in worker threads (default). ``False`` runs it on the
            event loop's own thread, blocking it for each commit: for simulations
            in virtual time, where waiting on a thread would let the mock clock
            jump ahead as if the disk took hours.

    Raises:
        ForeignFileError: the file exists and is not a memvisor log.
        CorruptLogError: the file is a damaged database.
    """
    if durability not in ("full", "normal"):
        raise UsageError(f"durability must be 'full' or 'normal', not {durability!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    store = await anyio.to_thread.run_sync(_Store, path, durability)
    log = SqliteEventLog(store, threads=threads)
    try:
        with single_error():
            async with anyio.create_task_group() as tg:
                tg.start_soon(log._write_loop)
                try:
                    yield log
                finally:
                    log._closing = True
                    log._wakeup.set()
    finally:
        log._closed = True
        log._fail_pending()
        await anyio.to_thread.run_sync(store.close)
