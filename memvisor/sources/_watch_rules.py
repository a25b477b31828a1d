"""File watchers' rules, pure: which changes count, what event each becomes, and the
key that makes a retry never a duplicate (``_watch`` reads the files and watches).

Invariants:

* Lexical first: a path is considered only if it lies inside the root and
  matches the glob (:func:`relative_to_root`, :func:`glob_matches`); the shell
  then checks its real path before reading it.
* A retry is never a duplicate: :func:`change_key` names the version of the file
  (path, inode, change and modification times, size and a digest of the bytes
  read), and a deletion the moment it was seen.
* Text is decoded as UTF-8 (a BOM dropped) up to ``max_chars``; bytes that are not
  UTF-8 make the change ``binary`` with no text (:func:`file_text`).
"""

import codecs
import hashlib
import math
from collections.abc import Iterable
from pathlib import Path, PurePath, PurePosixPath
from typing import Literal

import msgspec

from .._exceptions import ConfigError
from ..events import ExternalEvent

__all__ = [
    "ChangeKind",
    "FileChange",
    "FileSnapshot",
    "Gone",
    "Skipped",
    "Snapshot",
    "WatchSpec",
    "build_event",
    "change_key",
    "collapse",
    "decide",
    "file_text",
    "glob_matches",
    "is_within",
    "read_limit",
    "relative_to_root",
]

ChangeKind = Literal["added", "modified", "deleted"]


class WatchSpec(msgspec.Struct, frozen=True, kw_only=True):
    """What to watch and whom to tell."""

    agent: str
    """The agent the changes are delivered to."""
    root: Path
    """The directory watched (relative paths are relative to the working directory)."""
    glob: str = "*"
    """Which files, as :meth:`pathlib.PurePath.match` on the path relative to ``root``."""
    debounce: float = 0.5
    """Seconds: changes are grouped for at most this long (a burst ends after 50 ms of
    quiet); a file changed several times in one group is delivered once."""
    max_chars: int = 4000
    """Most characters of a text file's content put in the event."""
    recursive: bool = True
    """Watch subdirectories too."""

    def __post_init__(self) -> None:
        if not self.agent:
            raise ConfigError("a watcher needs the name of an agent")
        if not self.glob or self.glob.startswith("/"):
            raise ConfigError(
                f"a watcher's glob is relative to its root, e.g. '*.txt', not {self.glob!r}"
            )
        if not (math.isfinite(self.debounce) and self.debounce > 0):
            raise ConfigError(f"debounce must be a positive number of seconds: {self.debounce!r}")
        if self.max_chars < 1:
            raise ConfigError(f"max_chars must be at least 1, not {self.max_chars}")


class FileChange(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The ``payload`` of a watcher's event (delivered encoded to plain JSON values)."""

    path: str
    """Relative to the watched root, ``/``-separated."""
    change: ChangeKind
    size: int | None = None
    """Bytes, when the file exists."""
    binary: bool = False
    """The content is not UTF-8 text (or has NUL bytes), so the text does not show it."""
    cut: bool = False
    """The text holds only the first ``max_chars`` characters of the content."""


# --- the pure core ----------------------------------------------------------------


class FileSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """A regular file inside the root, as read."""

    head: bytes
    """Its first bytes (at most :func:`read_limit` of them)."""
    size: int
    ino: int
    mtime_ns: int
    ctime_ns: int


class Gone(msgspec.Struct, frozen=True, kw_only=True):
    """Nothing is at the path (any more)."""


class Skipped(msgspec.Struct, frozen=True, kw_only=True):
    """Something is there that must not or cannot be read."""

    reason: str
    warn: bool = True
    """Worth a warning (outside the root, unreadable), not just a directory."""


Snapshot = FileSnapshot | Gone | Skipped


def collapse(changes: Iterable[tuple[ChangeKind, str]]) -> list[tuple[str, frozenset[ChangeKind]]]:
    """One entry per path with every kind of change seen for it, in path order.

    A path below a directory added in the same batch counts as added too: inotify
    watches a new directory only once it exists, so a file created in it at once
    may be reported only as modified.
    """
    kinds: dict[str, set[ChangeKind]] = {}
    for kind, path in changes:
        kinds.setdefault(path, set()).add(kind)
    added = {path for path, seen in kinds.items() if "added" in seen}
    if added:
        for path, seen in kinds.items():
            if any(str(parent) in added for parent in PurePath(path).parents):
                seen.add("added")
    return [(path, frozenset(kinds[path])) for path in sorted(kinds)]


def relative_to_root(root: PurePath, path: PurePath) -> PurePosixPath | None:
    """``path`` relative to ``root``, lexically; ``None`` if it is not strictly inside
    (elsewhere, the root itself, or with a ``..`` part)."""
    try:
        relative = path.relative_to(root)
    except ValueError:
        return None
    parts = relative.parts
    if not parts or ".." in parts:
        return None
    return PurePosixPath(*parts)


def glob_matches(glob: str, relative: PurePosixPath, *, recursive: bool = True) -> bool:
    """Does the path relative to the root match (see the module's glob semantics)?"""
    if not recursive and len(relative.parts) != 1:
        return False
    return relative.match(glob)


def is_within(root: PurePath, path: PurePath) -> bool:
    """Is ``path`` the root or below it (both already real, absolute paths)?"""
    return path == root or root in path.parents


def read_limit(max_chars: int) -> int:
    """Bytes to read for ``max_chars`` characters: a UTF-8 character has at most 4,
    and one more character tells whether there is more."""
    return 4 * max_chars + 4


def decide(kinds: frozenset[ChangeKind], snapshot: Snapshot) -> ChangeKind | None:
    """What the agent is told about a path, given every change seen for it in one group
    and what is there now; ``None``: nothing."""
    match snapshot:
        case FileSnapshot():
            # Created (or deleted and created again) within the group: it is new.
            return "added" if kinds & {"added", "deleted"} else "modified"
        case Gone():
            # Created and not yet reported deleted: the deletion comes in a later group.
            return "deleted" if "deleted" in kinds else None
        case Skipped():
            return None


def file_text(head: bytes, *, max_chars: int, complete: bool) -> tuple[str | None, bool]:
    """``(text, cut)``: the content as text, at most ``max_chars`` characters, and whether
    it was cut; ``(None, False)`` for binary content (NUL bytes, or not UTF-8).

    ``complete``: ``head`` is the whole file (else its last character may be partial).
    """
    if b"\0" in head:
        return None, False
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    try:
        text = decoder.decode(head, final=complete)
    except UnicodeDecodeError:
        return None, False
    return text[:max_chars], len(text) > max_chars


def change_key(root: str, relative: str, snapshot: FileSnapshot | None, seen_ns: int) -> str:
    """The idempotency key: the file's version when it exists, else the moment the
    deletion was seen."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{root}\0{relative}\0".encode(errors="surrogateescape"))
    if snapshot is None:
        digest.update(f"deleted\0{seen_ns}".encode())
    else:
        digest.update(
            f"{snapshot.ino}\0{snapshot.mtime_ns}\0{snapshot.ctime_ns}\0{snapshot.size}\0".encode()
        )
        digest.update(snapshot.head)
    return f"watch:{digest.hexdigest()}"


def build_event(
    spec: WatchSpec,
    *,
    root: str,
    source: str,
    relative: PurePosixPath,
    change: ChangeKind,
    snapshot: Snapshot,
    seen_ns: int,
) -> ExternalEvent:
    """The event for one change (``root``: the real root; ``seen_ns``: when it was seen)."""
    path = relative.as_posix()
    if not isinstance(snapshot, FileSnapshot) or change == "deleted":
        payload = FileChange(path=path, change=change)
        text = f"{path} was deleted."
        key = change_key(root, path, None, seen_ns)
    else:
        size = snapshot.size
        content, cut = file_text(
            snapshot.head,
            max_chars=spec.max_chars,
            complete=len(snapshot.head) < read_limit(spec.max_chars),
        )
        payload = FileChange(path=path, change=change, size=size, binary=content is None, cut=cut)
        if content is None:
            text = f"{path} ({size} bytes) is binary or not UTF-8 text; its content is not shown."
        elif cut:
            text = f"{content}\n[… cut at {spec.max_chars} characters; the file has {size} bytes]"
        else:
            text = content or "(empty file)"
        key = change_key(root, path, snapshot, seen_ns)
    return ExternalEvent(
        agent=spec.agent,
        seq=0,
        at=0.0,
        source=source,
        text=text,
        payload=msgspec.to_builtins(payload),
        key=key,
    )
