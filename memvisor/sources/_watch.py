"""File watchers: changes under a directory become ``external_event``\\ s for an agent.

```
watchfiles (a Rust thread: inotify / FSEvents / ReadDirectoryChangesW)
   │ batches of (added|modified|deleted, absolute path), grouped for up to `debounce`
   ▼
collapse ── one entry per path, in path order
   ▼
scan_directory ── a new directory: the files already in it count as added
   ▼
relative_to_root + glob_matches ── lexical: inside the root, matches the glob?
   ▼
read_snapshot (worker thread) ── real path inside the real root? a regular file?
   │                             the first bytes, size, times
   ▼
decide + build_event ── the change kind, the text, the payload, the key (pure:
   │                     ``_watch_rules``)
   ▼
Deliverer.deliver ── Busy: wait and retry the same event; UnknownAgent: stop
```

Invariants:

* **Nothing outside the root is read.** A path is read only through its real path
  (symlinks resolved), only if that lies inside the real root, only if it is a
  regular file, opened without following a final symlink (so a swap after the
  check fails instead of escaping) and, on Linux, checked again through the open
  descriptor. A path that fails the check gets no event at all, only a warning in
  the log: an event would tell the agent about a file it may not see, and a
  hostile link farm could flood the agent with them.
* **A change is not lost while the watcher runs.** ``Busy`` makes the watcher wait
  (the deliverer's hint, doubled while it stays busy, at most a minute) and retry
  the *same* event; meanwhile watchfiles keeps collecting changes. A directory
  created (or moved in) is scanned, since inotify cannot report what was made in
  it before it was watched. Changes made before :func:`watch` reported itself
  started, or after it stopped, are not seen: a watcher does not rescan the root.
* **A retry is never a duplicate.** Each event carries an idempotency key naming
  the version of the file (path, inode, change and modification times, size and a
  digest of the bytes read), so re-sending it, or a second notification for the
  same version, is answered ``Duplicate``. A deletion's key names the moment it was
  seen, so deleting a file twice (recreated in between) is two events.
* ``UnknownAgent`` ends the watcher (logged as an error): the agent is gone and
  every later change would be refused too; the rest of the process goes on.

Glob semantics are :meth:`pathlib.PurePath.match` on the path relative to the
root, in POSIX form: a pattern is matched from the right, ``*`` never crosses a
``/``, so ``*.txt`` matches ``a.txt`` and ``notes/2024/a.txt`` alike, and
``notes/*.txt`` matches ``notes/a.txt`` (and ``x/notes/a.txt``) but not
``notes/2024/a.txt``. Matching is case-sensitive. watchfiles' default filter
drops editor and tool noise first (``.git``, ``__pycache__``, ``node_modules``,
``*.swp``, ``*~``, ``.#*`` …).
"""

from __future__ import annotations

import logging
import os
import stat
import sys
import time
from contextlib import aclosing
from pathlib import Path, PurePosixPath

import anyio
import anyio.abc
from watchfiles import Change, DefaultFilter, awatch

from .._exceptions import ConfigError
from ..events import ExternalEvent
from ._delivery import Accepted, Busy, Deliverer, Duplicate, UnknownAgent
from ._watch_rules import (
    ChangeKind,
    FileSnapshot,
    Gone,
    Skipped,
    Snapshot,
    WatchSpec,
    build_event,
    collapse,
    decide,
    glob_matches,
    is_within,
    read_limit,
    relative_to_root,
)

__all__ = ["read_snapshot", "scan_directory", "watch"]

_log = logging.getLogger("memvisor.sources.watch")

_KINDS: dict[Change, ChangeKind] = {
    Change.added: "added",
    Change.modified: "modified",
    Change.deleted: "deleted",
}
_STEP_MS = 50  # quiet time that ends a burst of changes before `debounce` runs out
_READY_MS = 200  # watchfiles reports an empty batch this often when idle (see _pump)
_FIRST_RETRY = 0.05
_MAX_RETRY = 60.0


# --- the shell: reading files, watching, delivering --------------------------------


def read_snapshot(root: Path, path: Path, *, limit: int) -> Snapshot:
    """What is at ``path`` now, read only if it is a regular file inside the real ``root``
    (blocking: run it in a worker thread)."""
    try:
        real = Path(os.path.realpath(path))
    except OSError as error:  # a symlink loop, on some platforms
        return Skipped(reason=f"cannot resolve: {error}")
    if not is_within(root, real):
        return Skipped(reason=f"its real path {str(real)!r} is outside the watched root")
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(real, flags | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        return Gone()
    except OSError as error:  # unreadable, or a symlink swapped in since realpath
        return Skipped(reason=f"cannot open: {error}")
    try:
        return _read_open(root, fd, limit)
    except OSError as error:
        return Skipped(reason=f"cannot read: {error}")
    finally:
        os.close(fd)


def _read_open(root: Path, fd: int, limit: int) -> Snapshot:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):  # a directory, a FIFO (opened without blocking) …
        return Skipped(reason="not a regular file", warn=False)
    if sys.platform == "linux":
        opened = Path(os.readlink(f"/proc/self/fd/{fd}"))
        if not is_within(root, opened):
            return Skipped(reason=f"it was moved outside the watched root ({opened})")
    chunks: list[bytes] = []
    remaining = limit
    while remaining > 0 and (chunk := os.read(fd, min(remaining, 1 << 16))):
        chunks.append(chunk)
        remaining -= len(chunk)
    return FileSnapshot(
        head=b"".join(chunks),
        size=info.st_size,
        ino=info.st_ino,
        mtime_ns=info.st_mtime_ns,
        ctime_ns=info.st_ctime_ns,
    )


def scan_directory(root: Path, path: Path) -> list[Path]:
    """The files in ``path`` and below, if it is a directory (not a link to one) inside the
    real ``root``; else none. Links among them are listed, and checked when read."""
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            return []
        if not is_within(root, Path(os.path.realpath(path))):
            return []
    except OSError:
        return []
    keep = DefaultFilter()
    found: list[Path] = []
    for top, _, names in os.walk(path):  # does not follow links to directories
        found.extend(
            Path(top, name) for name in names if keep(Change.added, os.path.join(top, name))
        )
    return sorted(found)


async def watch(
    spec: WatchSpec,
    deliverer: Deliverer,
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    stop_event: anyio.Event | None = None,
) -> None:
    """Deliver every change under ``spec.root`` that matches ``spec.glob`` to ``spec.agent``.

    The events' ``source`` is ``"watch:<name of the root>"``, their ``payload`` a
    :class:`FileChange` as plain values, their ``text`` the content of a text file
    (at most ``spec.max_chars`` characters, with a note when cut) or a sentence
    saying what happened.

    Runs until cancelled, until ``stop_event`` is set (then returns; changes not yet
    delivered are dropped, as on cancellation) or until the agent turns out not to
    exist (logged as an error; returns). Reports itself started (``task_group.start``)
    once the directory is being watched: every later change is seen.

    Raises:
        ConfigError: the root is not a directory.
    """
    root, name = await anyio.to_thread.run_sync(_real_root, spec.root)
    watcher = _Watcher(spec, root, f"watch:{name}", deliverer)
    # The watch thread polls `halt` every few milliseconds: setting it ends that
    # thread's wait, which a cancellation alone could not interrupt.
    halt = anyio.Event()
    async with anyio.create_task_group() as tg:
        try:
            await tg.start(watcher.pump, halt, tg.cancel_scope)
            task_status.started()
            if stop_event is None:
                await anyio.sleep_forever()
            else:
                await stop_event.wait()
        finally:
            halt.set()
            tg.cancel_scope.cancel()


def _real_root(root: Path) -> tuple[Path, str]:
    """The real path of the root and the name it is known by (that of the path given)."""
    real = Path(os.path.realpath(root))
    if not real.is_dir():
        raise ConfigError(f"cannot watch {str(root)!r}: it is not a directory")
    return real, Path(os.path.abspath(root)).name or real.name or str(real)


class _Watcher:
    """One running watcher: turns batches of changes into deliveries, one at a time."""

    def __init__(self, spec: WatchSpec, root: Path, source: str, deliverer: Deliverer) -> None:
        self.spec = spec
        self.root = root
        self.source = source
        self.deliverer = deliverer

    async def pump(
        self,
        halt: anyio.Event,
        scope: anyio.CancelScope,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Deliver batch after batch until ``halt``; cancel ``scope`` if the agent is unknown."""
        debounce_ms = max(1, round(self.spec.debounce * 1000))
        started = False
        # The watcher exists once the first batch comes, empty or not: an idle watcher
        # yields an empty one every `_READY_MS`, so `started` means "watching".
        batches = awatch(
            self.root,
            watch_filter=DefaultFilter(),
            debounce=debounce_ms,
            step=min(_STEP_MS, debounce_ms),
            stop_event=halt,
            rust_timeout=_READY_MS,
            yield_on_timeout=True,
            recursive=self.spec.recursive,
        )
        async with aclosing(batches):
            async for batch in batches:
                if not started:
                    task_status.started()
                    started = True
                for path, kinds in collapse((_KINDS[change], path) for change, path in batch):
                    if not await self.handle(Path(path), kinds):
                        scope.cancel()
                        return

    async def handle(self, path: Path, kinds: frozenset[ChangeKind]) -> bool:
        """Deliver one path's change, if it is one; ``False``: the agent does not exist."""
        if "added" in kinds and self.spec.recursive:
            # A new directory: inotify watches it only once it exists, so what was
            # created in it before then has no event of its own. Deliver what is there
            # (a file that did get its own event is then a duplicate by its key).
            for found in await anyio.to_thread.run_sync(scan_directory, self.root, path):
                inside = self.wanted(found)
                if inside and not await self.handle_file(found, inside, frozenset({"added"})):
                    return False
        relative = self.wanted(path)
        return relative is None or await self.handle_file(path, relative, kinds)

    def wanted(self, path: Path) -> PurePosixPath | None:
        """The path relative to the root if it is inside and matches the glob."""
        relative = relative_to_root(self.root, path)
        if relative is None or not glob_matches(
            self.spec.glob, relative, recursive=self.spec.recursive
        ):
            return None
        return relative

    async def handle_file(
        self, path: Path, relative: PurePosixPath, kinds: frozenset[ChangeKind]
    ) -> bool:
        """Read, decide, deliver; ``False``: the agent does not exist."""
        spec, root = self.spec, self.root
        limit = read_limit(spec.max_chars)
        snapshot = await anyio.to_thread.run_sync(lambda: read_snapshot(root, path, limit=limit))
        if isinstance(snapshot, Skipped):
            if snapshot.warn:
                _log.warning("watch %s: not reading %s: %s", root, relative, snapshot.reason)
            return True
        change = decide(kinds, snapshot)
        if change is None:
            return True
        event = build_event(
            spec,
            root=str(root),
            source=self.source,
            relative=relative,
            change=change,
            snapshot=snapshot,
            seen_ns=time.time_ns(),
        )
        outcome = await _deliver(self.deliverer, spec.agent, event)
        if isinstance(outcome, UnknownAgent):
            _log.error("watch %s: no agent %r; this watcher stops", root, spec.agent)
            return False
        return True


async def _deliver(
    deliverer: Deliverer, agent: str, event: ExternalEvent
) -> Accepted | Duplicate | UnknownAgent:
    """Deliver, retrying the same event (same key) for as long as the agent is busy."""
    backoff = _FIRST_RETRY
    while True:
        outcome = await deliverer.deliver(agent, event)
        if not isinstance(outcome, Busy):
            return outcome
        await anyio.sleep(min(max(outcome.retry_after, backoff), _MAX_RETRY))
        backoff = min(backoff * 2, _MAX_RETRY)
