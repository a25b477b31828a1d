"""File watchers: the pure core without a watcher, then a real watcher on a real directory.

The watcher tests never wait for "nothing happens": after the changes that must
not be delivered they write a marker file whose name sorts after every other
path. Changes come in order, a batch is handled in path order, so once the
marker is delivered every earlier change has been handled.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path, PurePosixPath

import anyio
import pytest

from memvisor import ConfigError
from memvisor.events import ExternalEvent, decode_event, encode_event
from memvisor.sources import (
    Busy,
    ChangeKind,
    Delivery,
    MemoryDeliverer,
    UnknownAgent,
    WatchSpec,
    watch,
)
from memvisor.sources._watch import read_snapshot, scan_directory
from memvisor.sources._watch_rules import (
    FileSnapshot,
    Gone,
    Skipped,
    build_event,
    collapse,
    decide,
    file_text,
    glob_matches,
    is_within,
    read_limit,
    relative_to_root,
)

MARKER = "zzz-marker.txt"


# --- the pure core -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "relative"),
    [
        ("/r/a.txt", "a.txt"),
        ("/r/sub/dir/a.txt", "sub/dir/a.txt"),
        ("/r", None),
        ("/elsewhere/a.txt", None),
        ("/rr/a.txt", None),
        ("/r/../etc/passwd", None),
        ("/r/sub/../../x", None),
    ],
)
def test_relative_to_root_is_strictly_inside_and_never_climbs(
    path: str, relative: str | None
) -> None:
    found = relative_to_root(PurePosixPath("/r"), PurePosixPath(path))
    assert (found.as_posix() if found else None) == relative


@pytest.mark.parametrize(
    ("glob", "path", "recursive", "matches"),
    [
        ("*", "a.txt", True, True),
        ("*", "sub/a.md", True, True),
        ("*.txt", "a.txt", True, True),
        ("*.txt", "sub/deep/a.txt", True, True),
        ("*.txt", "sub/deep/a.txt", False, False),
        ("*.txt", "a.md", True, False),
        ("*.txt", "a.TXT", True, False),
        ("notes/*.md", "notes/a.md", True, True),
        ("notes/*.md", "x/notes/a.md", True, True),
        ("notes/*.md", "notes/2024/a.md", True, False),
        ("report-??.csv", "report-07.csv", True, True),
        ("[ab].txt", "b.txt", True, True),
    ],
)
def test_glob_matches_the_relative_path_from_the_right(
    glob: str, path: str, recursive: bool, matches: bool
) -> None:
    assert glob_matches(glob, PurePosixPath(path), recursive=recursive) is matches


def test_is_within_compares_whole_path_components() -> None:
    root = PurePosixPath("/data/inbox")
    assert is_within(root, root)
    assert is_within(root, root / "a" / "b.txt")
    assert not is_within(root, PurePosixPath("/data/inbox2/a.txt"))
    assert not is_within(root, PurePosixPath("/data"))


def test_collapse_groups_by_path_in_path_order_and_marks_files_of_new_directories() -> None:
    batch: list[tuple[ChangeKind, str]] = [
        ("modified", "/r/b.txt"),
        ("added", "/r/a.txt"),
        ("modified", "/r/a.txt"),
        ("added", "/r/new"),
        ("modified", "/r/new/inner/c.txt"),
    ]
    assert collapse(batch) == [
        ("/r/a.txt", frozenset({"added", "modified"})),
        ("/r/b.txt", frozenset({"modified"})),
        ("/r/new", frozenset({"added"})),
        ("/r/new/inner/c.txt", frozenset({"added", "modified"})),
    ]


SNAPSHOT = FileSnapshot(head=b"hello", size=5, ino=7, mtime_ns=1, ctime_ns=1)


@pytest.mark.parametrize(
    ("kinds", "snapshot", "told"),
    [
        ({"added"}, SNAPSHOT, "added"),
        ({"added", "modified"}, SNAPSHOT, "added"),
        ({"modified"}, SNAPSHOT, "modified"),
        ({"deleted"}, SNAPSHOT, "added"),  # deleted and created again
        ({"deleted"}, Gone(), "deleted"),
        ({"added", "deleted"}, Gone(), "deleted"),
        ({"added"}, Gone(), None),  # its deletion is reported in a later batch
        ({"modified"}, Skipped(reason="outside"), None),
    ],
)
def test_decide_tells_what_is_there_now(
    kinds: set[str], snapshot: FileSnapshot | Gone | Skipped, told: str | None
) -> None:
    assert decide(frozenset(kinds), snapshot) == told  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("head", "max_chars", "complete", "result"),
    [
        (b"hello", 10, True, ("hello", False)),
        (b"hello", 5, True, ("hello", False)),
        (b"hello!", 5, True, ("hello", True)),
        (b"", 5, True, ("", False)),
        ("héllo wörld".encode(), 4, False, ("héll", True)),
        ("日本語".encode()[:-1], 1, False, ("日", True)),  # read cut inside a character
        (b"\xef\xbb\xbfbom", 10, True, ("bom", False)),
        (b"a\x00b", 10, True, (None, False)),
        (b"\xff\xfe latin-1 \xe9", 10, True, (None, False)),
        ("日本語".encode()[:-1], 10, True, (None, False)),  # the whole file, broken at its end
    ],
)
def test_file_text_shows_utf8_text_up_to_the_limit_and_refuses_binary(
    head: bytes, max_chars: int, complete: bool, result: tuple[str | None, bool]
) -> None:
    assert file_text(head, max_chars=max_chars, complete=complete) == result


def test_read_limit_always_has_room_for_one_character_more() -> None:
    text = "€" * 11  # 3 bytes each
    head = text.encode()[: read_limit(10)]
    assert file_text(head, max_chars=10, complete=False) == ("€" * 10, True)


def _event(
    snapshot: FileSnapshot | Gone, change: ChangeKind = "added", seen_ns: int = 1
) -> ExternalEvent:
    spec = WatchSpec(agent="desk", root=Path("/r"), max_chars=3)
    return build_event(
        spec,
        root="/r",
        source="watch:r",
        relative=PurePosixPath("sub/a.txt"),
        change=change,
        snapshot=snapshot,
        seen_ns=seen_ns,
    )


def test_build_event_carries_path_change_and_cut_content_as_plain_values() -> None:
    event = _event(SNAPSHOT)
    assert event.agent == "desk"
    assert event.source == "watch:r"
    assert event.payload == {"path": "sub/a.txt", "change": "added", "size": 5, "cut": True}
    assert event.text == "hel\n[… cut at 3 characters; the file has 5 bytes]"
    assert decode_event(encode_event(event)) == event

    deleted = _event(Gone(), "deleted")
    assert deleted.payload == {"path": "sub/a.txt", "change": "deleted"}
    assert deleted.text == "sub/a.txt was deleted."

    binary = _event(FileSnapshot(head=b"\0\1", size=2, ino=1, mtime_ns=1, ctime_ns=1))
    assert binary.payload == {"path": "sub/a.txt", "change": "added", "size": 2, "binary": True}
    assert "binary" in binary.text
    assert "\0" not in binary.text

    empty = _event(FileSnapshot(head=b"", size=0, ino=1, mtime_ns=1, ctime_ns=1))
    assert empty.text == "(empty file)"


def test_the_key_names_the_version_of_the_file_or_the_moment_of_a_deletion() -> None:
    key = _event(SNAPSHOT).key
    assert key is not None
    assert key.startswith("watch:")
    assert _event(SNAPSHOT, seen_ns=99).key == key  # when it was seen does not matter
    assert _event(SNAPSHOT, "modified").key == key  # a second notice of one version
    for changed in (
        FileSnapshot(head=b"hellO", size=5, ino=7, mtime_ns=1, ctime_ns=1),
        FileSnapshot(head=b"hello", size=5, ino=8, mtime_ns=1, ctime_ns=1),
        FileSnapshot(head=b"hello", size=5, ino=7, mtime_ns=2, ctime_ns=1),
        FileSnapshot(head=b"hello", size=5, ino=7, mtime_ns=1, ctime_ns=2),
    ):
        assert _event(changed).key != key
    assert _event(Gone(), "deleted", seen_ns=1).key != _event(Gone(), "deleted", seen_ns=2).key


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"agent": ""}, "agent"),
        ({"glob": ""}, "glob"),
        ({"glob": "/abs/*.txt"}, "glob"),
        ({"debounce": 0.0}, "debounce"),
        ({"debounce": float("nan")}, "debounce"),
        ({"max_chars": 0}, "max_chars"),
    ],
)
def test_watch_spec_refuses_unusable_settings(changes: dict[str, object], says: str) -> None:
    settings: dict[str, object] = {"agent": "desk", "root": Path("."), **changes}
    with pytest.raises(ConfigError, match=says):
        WatchSpec(**settings)  # type: ignore[arg-type]


# --- reading: only regular files inside the real root -------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    """A watched root and, beside it, an outside directory with a secret."""
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text("TOP SECRET")
    return root, outside


def test_read_snapshot_reads_at_most_the_limit(tree: tuple[Path, Path]) -> None:
    root, _ = tree
    (root / "a.txt").write_text("x" * 100)
    snapshot = read_snapshot(root, root / "a.txt", limit=10)
    assert isinstance(snapshot, FileSnapshot)
    assert (snapshot.head, snapshot.size) == (b"x" * 10, 100)


def test_read_snapshot_refuses_anything_whose_real_path_leaves_the_root(
    tree: tuple[Path, Path],
) -> None:
    root, outside = tree
    (root / "link.txt").symlink_to(outside / "secret.txt")
    (root / "escape").symlink_to(outside)
    (root / "inner.txt").write_text("fine")
    (root / "alias.txt").symlink_to(root / "inner.txt")
    for path in (root / "link.txt", root / "escape" / "secret.txt", root / ".." / "outside"):
        snapshot = read_snapshot(root, path, limit=100)
        assert isinstance(snapshot, Skipped)
        assert snapshot.warn
        assert "outside the watched root" in snapshot.reason
    alias = read_snapshot(root, root / "alias.txt", limit=100)
    assert isinstance(alias, FileSnapshot)
    assert alias.head == b"fine"


def test_read_snapshot_skips_what_is_not_a_regular_file_without_blocking(
    tree: tuple[Path, Path],
) -> None:
    root, _ = tree
    os.mkfifo(root / "pipe.txt")
    (root / "dir").mkdir()
    (root / "loop").symlink_to(root / "loop")
    for name in ("pipe.txt", "dir"):
        assert read_snapshot(root, root / name, limit=10) == Skipped(
            reason="not a regular file", warn=False
        )
    assert isinstance(read_snapshot(root, root / "loop", limit=10), Skipped)
    assert read_snapshot(root, root / "missing.txt", limit=10) == Gone()


def test_scan_directory_lists_files_below_a_real_directory_only(
    tree: tuple[Path, Path],
) -> None:
    root, outside = tree
    (root / "new" / "deeper").mkdir(parents=True)
    (root / "new" / "a.txt").write_text("a")
    (root / "new" / "deeper" / "b.txt").write_text("b")
    (root / "new" / ".git").mkdir()
    (root / "new" / ".git" / "HEAD").write_text("ref")
    (root / "new" / "away").symlink_to(outside, target_is_directory=True)
    (root / "linked").symlink_to(root / "new", target_is_directory=True)
    assert scan_directory(root, root / "new") == [
        root / "new" / "a.txt",
        root / "new" / "deeper" / "b.txt",
    ]
    assert scan_directory(root, root / "new" / "a.txt") == []
    assert scan_directory(root, root / "linked") == []
    assert scan_directory(root, root / "missing") == []


# --- a real watcher -------------------------------------------------------------------


class Recorder:
    """A :class:`MemoryDeliverer` in front of which every attempt is recorded.

    ``busy``: how many attempts are answered Busy first. ``lose_acks``: how many
    attempts are delivered but answered Busy anyway (an acknowledgement lost).
    """

    def __init__(self, *, busy: int = 0, lose_acks: int = 0) -> None:
        self.inner = MemoryDeliverer({"desk"})
        self.attempts: list[ExternalEvent] = []
        self.busy = busy
        self.lose_acks = lose_acks

    async def deliver(self, agent: str, event: ExternalEvent) -> Delivery:
        self.attempts.append(event)
        if self.busy:
            self.busy -= 1
            return Busy(retry_after=0.01)
        outcome = await self.inner.deliver(agent, event)
        if self.lose_acks:
            self.lose_acks -= 1
            return Busy(retry_after=0.01)
        return outcome

    @property
    def accepted(self) -> list[ExternalEvent]:
        return self.inner.accepted["desk"]

    def about(self, path: str) -> list[ExternalEvent]:
        return [e for e in self.accepted if payload(e)["path"] == path]

    async def wait_for(self, wanted: Callable[[ExternalEvent], bool]) -> ExternalEvent:
        with anyio.fail_after(20):  # a safety net for a broken watcher, not a timing test
            while True:
                for event in self.accepted:
                    if wanted(event):
                        return event
                await anyio.sleep(0.01)

    async def wait_for_path(self, path: str, text: str | None = None) -> ExternalEvent:
        return await self.wait_for(
            lambda e: payload(e)["path"] == path and (text is None or e.text == text)
        )


def payload(event: ExternalEvent) -> dict[str, object]:
    assert isinstance(event.payload, dict)
    return event.payload


@asynccontextmanager
async def watching(spec: WatchSpec, recorder: Recorder) -> AsyncIterator[None]:
    async with anyio.create_task_group() as tg:
        await tg.start(watch, spec, recorder)
        yield
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_added_modified_and_deleted_files_reach_the_agent(tree: tuple[Path, Path]) -> None:
    root, _ = tree
    recorder = Recorder()
    async with watching(WatchSpec(agent="desk", root=root), recorder):
        (root / "a.txt").write_text("hello")
        added = await recorder.wait_for_path("a.txt", "hello")
        assert added.source == "watch:root"
        # Written at once, it comes as one "added" (or, if the watcher split the
        # write, as "added" first and a "modified" with the content).
        assert payload(recorder.about("a.txt")[0])["change"] == "added"

        (root / "a.txt").write_text("hello again")
        modified = await recorder.wait_for_path("a.txt", "hello again")
        assert payload(modified) == {"path": "a.txt", "change": "modified", "size": 11}

        (root / "a.txt").unlink()
        deleted = await recorder.wait_for(lambda e: payload(e)["change"] == "deleted")
        assert payload(deleted) == {"path": "a.txt", "change": "deleted"}
    keys = [e.key for e in recorder.accepted]
    assert len(set(keys)) == len(keys)


@pytest.mark.anyio
async def test_the_glob_picks_files_at_any_depth_and_drops_the_rest(
    tree: tuple[Path, Path],
) -> None:
    root, _ = tree
    recorder = Recorder()
    async with watching(WatchSpec(agent="desk", root=root, glob="*.txt"), recorder):
        (root / "sub" / "deeper").mkdir(parents=True)
        (root / "sub" / "deeper" / "n.txt").write_text("nested")
        (root / "skip.md").write_text("not for the agent")
        (root / MARKER).write_text("marker")
        nested = await recorder.wait_for_path("sub/deeper/n.txt", "nested")
        assert payload(nested)["change"] == "added"
        await recorder.wait_for_path(MARKER)
    assert not recorder.about("skip.md")
    assert not recorder.about("sub")


@pytest.mark.anyio
async def test_a_watcher_that_is_not_recursive_sees_only_the_top_level(
    tree: tuple[Path, Path],
) -> None:
    root, _ = tree
    (root / "sub").mkdir()
    recorder = Recorder()
    async with watching(WatchSpec(agent="desk", root=root, recursive=False), recorder):
        (root / "sub" / "inner.txt").write_text("below")
        (root / "top.txt").write_text("top")
        (root / MARKER).write_text("marker")
        await recorder.wait_for_path(MARKER)
    assert {payload(e)["path"] for e in recorder.accepted} == {"top.txt", MARKER}


@pytest.mark.anyio
async def test_files_and_directories_moved_in_are_delivered_as_added(
    tree: tuple[Path, Path],
) -> None:
    root, outside = tree
    (outside / "folder").mkdir()
    (outside / "folder" / "inner.txt").write_text("came with its folder")
    recorder = Recorder()
    async with watching(WatchSpec(agent="desk", root=root), recorder):
        (outside / "secret.txt").rename(root / "given.txt")
        (outside / "folder").rename(root / "folder")
        given = await recorder.wait_for_path("given.txt")
        inner = await recorder.wait_for_path("folder/inner.txt")
    assert (given.text, payload(given)["change"]) == ("TOP SECRET", "added")
    assert (inner.text, payload(inner)["change"]) == ("came with its folder", "added")


@pytest.mark.anyio
async def test_nothing_outside_the_root_is_read(
    tree: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    root, outside = tree
    (root / "inner.txt").write_text("inside")
    recorder = Recorder()
    with caplog.at_level(logging.WARNING, logger="memvisor.sources.watch"):
        async with watching(WatchSpec(agent="desk", root=root), recorder):
            (root / "link.txt").symlink_to(outside / "secret.txt")
            (root / "escape").symlink_to(outside, target_is_directory=True)
            (outside / "secret.txt").write_text("TOP SECRET, changed")
            (root / "alias.txt").symlink_to(root / "inner.txt")
            (root / MARKER).write_text("marker")
            alias = await recorder.wait_for_path("alias.txt")
            await recorder.wait_for_path(MARKER)
    assert alias.text == "inside"  # a link that stays inside is fine
    assert all("SECRET" not in attempt.text for attempt in recorder.attempts)
    assert not recorder.about("link.txt")
    assert not [e for e in recorder.accepted if str(payload(e)["path"]).startswith("escape")]
    assert "link.txt: its real path" in caplog.text


@pytest.mark.anyio
async def test_binary_files_are_described_and_big_ones_cut(tree: tuple[Path, Path]) -> None:
    root, _ = tree
    recorder = Recorder()
    async with watching(WatchSpec(agent="desk", root=root, max_chars=100), recorder):
        (root / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")
        (root / "big.txt").write_text("a" * 50 + "b" * 950)
        os.mkfifo(root / "pipe.txt")  # never read, never blocks the watcher
        (root / MARKER).write_text("marker")
        binary = await recorder.wait_for(lambda e: payload(e).get("size") == 16)
        big = await recorder.wait_for(lambda e: payload(e).get("size") == 1000)
        await recorder.wait_for_path(MARKER)
    assert payload(binary) == {"path": "image.png", "change": "added", "size": 16, "binary": True}
    assert (
        binary.text
        == "image.png (16 bytes) is binary or not UTF-8 text; its content is not shown."
    )
    assert payload(big)["cut"] is True
    assert big.text.startswith("a" * 50 + "b" * 50 + "\n[… cut at 100 characters")
    assert not recorder.about("pipe.txt")


@pytest.mark.anyio
async def test_busy_is_retried_with_the_same_event_and_it_arrives_once(
    tree: tuple[Path, Path],
) -> None:
    root, _ = tree
    recorder = Recorder(busy=3, lose_acks=1)
    async with watching(WatchSpec(agent="desk", root=root), recorder):
        (root / "a.txt").write_text("hello")
        await recorder.wait_for_path("a.txt", "hello")
        (root / MARKER).write_text("marker")
        await recorder.wait_for_path(MARKER)
    # 3 attempts answered Busy, 1 delivered but answered Busy, then one answered
    # Duplicate: five attempts at least, each retry the very same event.
    tries = [e for e in recorder.attempts if payload(e)["path"] == "a.txt"]
    assert len(tries) >= 5
    by_key: dict[str | None, set[bytes]] = {}
    for attempt in tries:
        by_key.setdefault(attempt.key, set()).add(encode_event(attempt))
    assert all(len(encoded) == 1 for encoded in by_key.values())
    # Delivered once each: the file's versions (one, or two if the write was split).
    delivered = recorder.about("a.txt")
    assert len({e.key for e in delivered}) == len(delivered) == len(by_key)
    assert [e.text for e in delivered].count("hello") == 1


@pytest.mark.anyio
async def test_an_unknown_agent_stops_the_watcher(
    tree: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    root, _ = tree

    class Nobody:
        async def deliver(self, agent: str, event: ExternalEvent) -> Delivery:
            return UnknownAgent()

    with caplog.at_level(logging.ERROR, logger="memvisor.sources.watch"):
        async with anyio.create_task_group() as tg:
            await tg.start(watch, WatchSpec(agent="ghost", root=root), Nobody())
            (root / "a.txt").write_text("hello")
        # The task group ended: the watcher returned by itself.
    assert "no agent 'ghost'" in caplog.text


@pytest.mark.anyio
async def test_the_stop_event_ends_the_watcher(tree: tuple[Path, Path]) -> None:
    root, _ = tree
    stop = anyio.Event()
    recorder = Recorder()
    async with anyio.create_task_group() as tg:
        await tg.start(
            lambda task_status: watch(
                WatchSpec(agent="desk", root=root),
                recorder,
                stop_event=stop,
                task_status=task_status,
            )
        )
        (root / "a.txt").write_text("hello")
        await recorder.wait_for_path("a.txt", "hello")
        stop.set()
    assert recorder.about("a.txt")


@pytest.mark.anyio
async def test_a_root_that_is_not_a_directory_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    for root in (tmp_path / "missing", tmp_path / "file"):
        with pytest.raises(ConfigError, match="not a directory"):
            await watch(WatchSpec(agent="desk", root=root), MemoryDeliverer({"desk"}))
