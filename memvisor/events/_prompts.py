"""The prompt store: every prompt the agents sent, by its hash, beside the log.

A ``llm_responded`` event keeps only the hash of its prompt (a prompt holds the
whole context window: logging it whole would make the log grow with the square
of the conversation). This store keeps the prompts themselves, so that
``memvisor replay --check`` can show what changed in a prompt whose hash no
longer matches.

```
 record(agent, hash, parts, tools) ─► pending ─(writer task)─► worker thread
   (no I/O: the agent's step                           blobs:   digest → zlib(body), or
    never waits on it)                                          digests of its paragraphs
                                                       prompts: hash → its parts' digests,
                                                                or a splice of another's
```

A prompt is stored as its parts (each message's canonical JSON, exactly the
bytes its hash was computed from) and its function schemas. Storage is kept
near the size of what is new in each prompt, not of the whole window:

* blobs are content-addressed by a 16-byte BLAKE2b digest, so a message that
  stays in the window for a hundred steps is stored once;
* a long message is cut into paragraphs, each a blob: the system message,
  new at every step since its memory statistics change, costs its changed
  paragraphs only;
* a prompt's list of parts is stored as a splice of the same agent's previous
  prompt (a new head, a run of the old list, a new tail), with a whole list
  every 32 prompts so that reading one follows at most 32 links.

Invariants:

* The log is the truth; this store is an aid. Writes are not fsynced and never
  make an agent wait, and a failed write is reported once and loses only the
  prompts it held: a missing prompt means "no diff to show", never a wrong one.
* Content-addressed, so idempotent: recording a prompt twice (a retried step, a
  replayed turn) stores it once. A prompt read back is checked against its
  hash: damage is reported, never shown as a prompt.
* A file that is not a prompt store is refused and left untouched.
"""

import hashlib
import sqlite3
import sys
import zlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Protocol

import anyio
import msgspec

from .._exceptions import CorruptLogError, ForeignFileError, LogError
from .._util import single_error
from ._prompt_format import (
    PromptRow,
    encode_blob,
    join_paragraphs,
    link,
    paragraphs_of,
    plain_body,
    rebuild,
)
from ._sqlite import refuse_foreign_file

__all__ = [
    "PROMPTS_FILENAME",
    "MemoryPromptStore",
    "PromptRecorder",
    "SqlitePromptStore",
    "StoredPrompt",
    "open_prompt_store",
    "prompt_digest",
]

PROMPTS_FILENAME = "prompts.sqlite3"
"""The prompt store's file in a runtime's home directory."""

APPLICATION_ID = 0x6D767072  # "mvpr"
SCHEMA_VERSION = 1
_SCHEMA = f"""
BEGIN IMMEDIATE;
CREATE TABLE blobs (id INTEGER PRIMARY KEY, digest BLOB NOT NULL UNIQUE, body BLOB NOT NULL);
CREATE TABLE prompts (
    id     INTEGER PRIMARY KEY,
    hash   TEXT NOT NULL UNIQUE,
    tools  BLOB NOT NULL,         -- digest of the function schemas' blob
    fresh  BLOB NOT NULL,         -- digests of parts not taken from the base
    base   TEXT,                  -- hash of the prompt a run of parts is taken from
    head   INTEGER NOT NULL,      -- parts of fresh before that run (the rest after)
    skip   INTEGER NOT NULL,      -- where the run starts in the base's parts
    keep   INTEGER NOT NULL       -- how long it is
);
PRAGMA application_id={APPLICATION_ID};
PRAGMA user_version={SCHEMA_VERSION};
COMMIT;
"""
_KNOWN_LIMIT = 200_000  # digests remembered as written (then forgotten: INSERT OR IGNORE)
_MAX_LINKS = 10_000  # more, when read, is damage (a loop)
_GATHER = 0.1  # seconds the writer lets prompts gather: fewer, larger writes


class StoredPrompt(msgspec.Struct, frozen=True, kw_only=True):
    """A prompt as it was sent."""

    parts: tuple[bytes, ...]
    """Each message's canonical JSON, in order."""
    tools: bytes
    """The function schemas offered with it, as JSON (``b"[]"`` for none)."""


class PromptRecorder(Protocol):
    """Where an agent records each prompt it sends. Implementations: SQLite, memory."""

    def record(self, agent: str, prompt_hash: str, parts: Sequence[bytes], tools: bytes) -> None:
        """Keep the prompt ``prompt_hash`` that ``agent`` sent (its messages' JSON and its
        functions' JSON).

        Returns at once; storing happens later and a failure there is not the caller's.
        """
        ...

    async def get(self, prompt_hash: str) -> StoredPrompt | None:
        """The prompt recorded under ``prompt_hash``, or ``None`` if there is none."""
        ...


def prompt_digest(parts: Sequence[bytes]) -> str:
    """The hash of a prompt from its parts: what ``llm_responded.prompt_hash`` holds."""
    return "sha256:" + hashlib.sha256(b"[" + b",".join(parts) + b"]").hexdigest()


class MemoryPromptStore:
    """A :class:`PromptRecorder` in memory: for tests and simulations."""

    def __init__(self) -> None:
        self._prompts: dict[str, StoredPrompt] = {}

    def record(self, agent: str, prompt_hash: str, parts: Sequence[bytes], tools: bytes) -> None:
        self._prompts.setdefault(prompt_hash, StoredPrompt(parts=tuple(parts), tools=tools))

    async def get(self, prompt_hash: str) -> StoredPrompt | None:
        await anyio.lowlevel.checkpoint()
        return self._prompts.get(prompt_hash)

    def __len__(self) -> int:
        return len(self._prompts)


_Pending = list[tuple[str, str, Sequence[bytes], bytes]]


class _Store:
    """Synchronous SQLite access; every method runs in a worker thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        refuse_foreign_file(path, "a memvisor prompt store")
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            self._open()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise CorruptLogError(
                f"{path} cannot be opened as a prompt store ({exc}); it was not modified"
            ) from None
        except BaseException:
            self._db.close()
            raise
        self._known: set[bytes] = set()
        self._digest_cache: dict[bytes, bytes] = {}  # body → digest, for bodies seen lately
        # Per agent: the last prompt written, its parts' digests, and its links to a whole.
        self._last: dict[str, tuple[str, list[bytes], int]] = {}

    def _open(self) -> None:
        db = self._db
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        if app_id != APPLICATION_ID:
            if app_id != 0 or db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                raise ForeignFileError(
                    f"{self.path} is not a memvisor prompt store; refusing to touch it"
                )
        elif db.execute("PRAGMA user_version").fetchone()[0] > SCHEMA_VERSION:
            raise ForeignFileError(
                f"{self.path} was written by a newer memvisor; upgrade memvisor to read it"
            )
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=10000")
        if app_id == 0:
            db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    # --- writing ---------------------------------------------------------------------------

    def write(self, pending: _Pending) -> None:
        try:
            self._write(pending)
        except BaseException:
            self._digest_cache.clear()  # they may name blobs that were not written
            raise

    def _write(self, pending: _Pending) -> None:
        blobs: dict[bytes, bytes] = {}
        rows: list[tuple[object, ...]] = []
        last = dict(self._last)
        for agent, prompt_hash, parts, tools in pending:
            known = self._digest_cache.get
            digests = [known(body) or self._digest(body, blobs) for body in parts]
            row, depth = link(last.get(agent), digests)
            last[agent] = (prompt_hash, digests, depth)
            tools_digest = self._digest(tools, blobs)
            rows.append((prompt_hash, tools_digest, *msgspec.structs.astuple(row)))
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(
                "INSERT OR IGNORE INTO blobs(digest, body) VALUES (?, ?)", blobs.items()
            )
            db.executemany(
                "INSERT OR IGNORE INTO prompts(hash, tools, fresh, base, head, skip, keep)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        self._last = last
        if len(self._known) > _KNOWN_LIMIT:
            self._known.clear()
        self._known.update(blobs)

    def _digest(self, body: bytes, blobs: dict[bytes, bytes]) -> bytes:
        """``body``'s digest, storing it in ``blobs`` if new. A message stays in the
        window for many steps as the same bytes object (the fold made it once), so
        its digest is looked up, not computed, after the first time."""
        digest = self._digest_cache.get(body)
        if digest is None:
            if len(self._digest_cache) > _KNOWN_LIMIT:
                self._digest_cache.clear()
            digest = self._digest_cache[body] = encode_blob(body, self._known, blobs)
        return digest

    # --- reading ---------------------------------------------------------------------------

    def get(self, prompt_hash: str) -> StoredPrompt | None:
        try:
            found = self._digests(prompt_hash)
            if found is None:
                return None
            digests, tools = found
            bodies = self._bodies([*digests, tools])
        except (sqlite3.DatabaseError, zlib.error, TypeError, ValueError) as exc:
            message = f"{self.path}: prompt {prompt_hash} is damaged ({exc})"
            raise CorruptLogError(message) from None
        stored = StoredPrompt(parts=tuple(bodies[d] for d in digests), tools=bodies[tools])
        if prompt_digest(stored.parts) != prompt_hash:
            raise CorruptLogError(f"{self.path}: prompt {prompt_hash} does not match its hash")
        return stored

    def _digests(self, prompt_hash: str) -> tuple[list[bytes], bytes] | None:
        """The prompt's parts' digests and its tools' digest, following its links."""
        chain: list[PromptRow] = []
        wanted: str | None = prompt_hash
        tools = b""
        while wanted is not None:
            found = self._db.execute(
                "SELECT tools, fresh, base, head, skip, keep FROM prompts WHERE hash = ?",
                (wanted,),
            ).fetchone()
            if found is None:
                if not chain:
                    return None
                raise ValueError(f"its base prompt {wanted} is missing")
            if not chain:
                tools = found[0]
            chain.append(PromptRow(*found[1:]))
            wanted = chain[-1].base
            if len(chain) > _MAX_LINKS:
                raise ValueError("its links go round in a circle")
        return rebuild(chain), tools

    def _bodies(self, digests: Sequence[bytes]) -> dict[bytes, bytes]:
        """Every blob's body by digest, paragraphs put back together."""
        stored = self._fetch(set(digests))
        split = {d: paragraphs_of(stored[d]) for d in stored}
        wanted = {p for paragraphs in split.values() for p in paragraphs or ()}
        stored.update(self._fetch(wanted - stored.keys()))
        bodies: dict[bytes, bytes] = {}
        for digest in set(digests):
            paragraphs = split[digest]
            if paragraphs is None:
                bodies[digest] = plain_body(stored[digest])
            else:
                bodies[digest] = join_paragraphs([plain_body(stored[p]) for p in paragraphs])
        return bodies

    def _fetch(self, digests: set[bytes]) -> dict[bytes, bytes]:
        wanted = sorted(digests)
        found: dict[bytes, bytes] = {}
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT digest, body FROM blobs WHERE digest IN ({marks})"
            found.update(self._db.execute(sql, chunk).fetchall())
        if len(found) != len(wanted):
            raise ValueError("parts missing")
        return found


class SqlitePromptStore:
    """The prompt store in an SQLite file. Open it with :func:`open_prompt_store`."""

    def __init__(self, store: _Store) -> None:
        self._store = store
        self._pending: _Pending = []
        self._wakeup = anyio.Event()
        self._closing = False
        self._warned = False

    @property
    def path(self) -> Path:
        """The database file."""
        return self._store.path

    def record(self, agent: str, prompt_hash: str, parts: Sequence[bytes], tools: bytes) -> None:
        """Queue the prompt for the writer (see :meth:`PromptRecorder.record`)."""
        if not self._closing:
            self._pending.append((agent, prompt_hash, parts, tools))
            self._wakeup.set()

    async def get(self, prompt_hash: str) -> StoredPrompt | None:
        """The prompt recorded under ``prompt_hash`` (written ones only), or ``None``.

        Raises:
            CorruptLogError: the stored prompt is damaged.
        """
        return await anyio.to_thread.run_sync(self._store.get, prompt_hash)

    async def _write_loop(self) -> None:
        while True:
            if not self._pending:
                if self._closing:
                    return
                await self._wakeup.wait()
                self._wakeup = anyio.Event()
                if not self._closing:
                    await anyio.sleep(_GATHER)  # one write for what comes meanwhile
                continue
            pending, self._pending = self._pending, []
            try:
                await anyio.to_thread.run_sync(self._store.write, pending)
            except sqlite3.Error as exc:
                if not self._warned:  # the agents go on: prompts are a debugging aid
                    self._warned = True
                    print(
                        f"memvisor: warning: prompts not saved to {self.path}: {exc}",
                        file=sys.stderr,
                    )


@asynccontextmanager
async def open_prompt_store(path: str | Path) -> AsyncIterator[SqlitePromptStore]:
    """Open (or create) the prompt store at ``path`` for the duration of the block.

    Leaving the block writes every prompt recorded so far, then closes the file.

    Raises:
        ForeignFileError: the file exists and is not a prompt store.
        CorruptLogError: the file is a damaged database.
        LogError: the file cannot be read.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LogError(f"cannot create {path.parent}: {exc.strerror}") from None
    store = await anyio.to_thread.run_sync(_Store, path)
    prompts = SqlitePromptStore(store)
    try:
        with single_error():
            async with anyio.create_task_group() as tg:
                tg.start_soon(prompts._write_loop)
                try:
                    yield prompts
                finally:
                    prompts._closing = True
                    prompts._wakeup.set()
    finally:
        await anyio.to_thread.run_sync(store.close)
