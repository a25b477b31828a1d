"""The prompt store: prompts kept by hash, parts stored once, damage and foreign files refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.lowlevel
from hypothesis import given, settings
from hypothesis import strategies as st

from memvisor import CorruptLogError, ForeignFileError
from memvisor.events import (
    MemoryPromptStore,
    StoredPrompt,
    open_prompt_store,
    prompt_digest,
)
from memvisor.events._prompt_format import (
    MAX_DEPTH,
    encode_blob,
    join_paragraphs,
    link,
    paragraphs_of,
    plain_body,
    rebuild,
)

SYSTEM = b'{"role":"system","content":"You are Ada."}'
TOOLS = b'[{"name":"send_message"}]'


def message(i: int) -> bytes:
    return b'{"role":"user","content":"message %d"}' % i


@pytest.mark.trio
async def test_a_prompt_comes_back_as_it_was_recorded(tmp_path: Path) -> None:
    parts = [SYSTEM, message(1), message(2)]
    digest = prompt_digest(parts)
    async with open_prompt_store(tmp_path / "p.sqlite3") as prompts:
        prompts.record("ada", digest, parts, TOOLS)
    async with open_prompt_store(tmp_path / "p.sqlite3") as prompts:
        assert await prompts.get(digest) == StoredPrompt(parts=tuple(parts), tools=TOOLS)
        assert await prompts.get("sha256:" + "0" * 64) is None


@pytest.mark.trio
async def test_a_sliding_window_costs_what_is_new_in_it(tmp_path: Path) -> None:
    path = tmp_path / "p.sqlite3"
    paragraphs = [
        b"Paragraph %d of the system prompt, long enough to matter." % i for i in range(40)
    ]
    window = [message(i) for i in range(100)]
    sent = []
    async with open_prompt_store(path) as prompts:
        for step in range(70):  # the window slides: one message in, one out; new statistics
            system = b"\\n\\n".join([*paragraphs, b"%d messages in recall" % step])
            parts = [system, *window[step : step + 30]]
            sent.append(parts)
            prompts.record("ada", prompt_digest(parts), parts, TOOLS)
            await trio.lowlevel.checkpoint()  # let the writer take batches of every size
        prompts.record("ada", prompt_digest(parts), parts, TOOLS)  # recorded twice: stored once
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM prompts").fetchone() == (70,)
        # Each system message is one new blob of links and one new paragraph; the 40
        # shared paragraphs, the 99 window messages ever shown and the tools are stored once.
        assert db.execute("SELECT count(*) FROM blobs").fetchone() == (70 * 2 + 40 + 99 + 1,)
        whole = db.execute("SELECT count(*) FROM prompts WHERE base IS NULL").fetchone()[0]
        assert 1 <= whole <= 3  # one, then one after every 32 links
    async with open_prompt_store(path) as prompts:
        for parts in sent:
            stored = await prompts.get(prompt_digest(parts))
            assert stored is not None
            assert stored.parts == tuple(parts)


@pytest.mark.trio
async def test_a_damaged_prompt_is_reported_not_returned(tmp_path: Path) -> None:
    path = tmp_path / "p.sqlite3"
    first = [SYSTEM, *(message(i) for i in range(10))]
    second = [SYSTEM + b" ", *(message(i) for i in range(1, 11))]
    async with open_prompt_store(path) as prompts:
        prompts.record("ada", prompt_digest(first), first, TOOLS)
        prompts.record("ada", prompt_digest(second), second, TOOLS)
    damages = [
        # Other parts under this hash: they do not hash to it.
        (
            "UPDATE prompts SET fresh = CAST(substr(fresh, 17) || substr(fresh, 1, 16) AS BLOB)"
            " WHERE base IS NULL",
            "does not match its hash",
        ),
        ("UPDATE blobs SET body = x'00ff'", "is damaged"),  # not zlib
        ("UPDATE prompts SET keep = 99 WHERE base IS NOT NULL", "shorter than its link"),
        ("DELETE FROM prompts WHERE base IS NULL", "base prompt .* is missing"),
        ("DELETE FROM blobs", "parts missing"),
    ]
    for sql, error in damages:
        broken = tmp_path / f"broken-{len(error)}.sqlite3"
        broken.write_bytes(path.read_bytes())
        with sqlite3.connect(broken) as db:
            db.execute(sql)
        async with open_prompt_store(broken) as prompts:
            with pytest.raises(CorruptLogError, match=error):
                await prompts.get(prompt_digest(second))


@pytest.mark.trio
async def test_a_foreign_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_bytes(b"my notes")
    with pytest.raises(ForeignFileError, match="not a memvisor prompt store"):
        async with open_prompt_store(text):
            pass
    assert text.read_bytes() == b"my notes"
    other = tmp_path / "other.sqlite3"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE t (x)")
    before = other.read_bytes()
    with pytest.raises(ForeignFileError, match="not a memvisor prompt store"):
        async with open_prompt_store(other):
            pass
    assert other.read_bytes() == before


@pytest.mark.trio
async def test_a_failed_write_warns_once_and_never_reaches_the_agent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with open_prompt_store(tmp_path / "p.sqlite3") as prompts:
        prompts._store._db.close()  # the file went away under it
        for i in range(3):
            parts = [SYSTEM, message(i)]
            prompts.record("ada", prompt_digest(parts), parts, TOOLS)  # does not raise
            await trio.sleep(0.01)
    assert capsys.readouterr().err.count("prompts not saved") == 1


_step = st.tuples(
    st.sampled_from(["ada", "bob"]),
    st.binary(max_size=1500) | st.just(b"x" * 1100 + b"\\n\\n" + b"y" * 50),  # system
    st.integers(0, 6),  # messages leaving the window
    st.lists(st.binary(max_size=200), max_size=6),  # messages entering it
    st.sampled_from([TOOLS, b"[]"]),
)


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(_step, max_size=40))
def test_any_windows_of_any_agents_round_trip(
    tmp_path_factory: pytest.TempPathFactory,
    steps: list[tuple[str, bytes, int, list[bytes], bytes]],
) -> None:
    path = tmp_path_factory.mktemp("prompts") / "p.sqlite3"
    windows: dict[str, list[bytes]] = {"ada": [], "bob": []}
    sent: list[tuple[list[bytes], bytes]] = []
    for agent, system, leaving, entering, tools in steps:
        windows[agent] = windows[agent][leaving:] + entering
        sent.append(([system, *windows[agent]], tools))

    async def main() -> None:
        memory = MemoryPromptStore()
        async with open_prompt_store(path) as store:
            for (parts, tools), (agent, *_) in zip(sent, steps, strict=True):
                store.record(agent, prompt_digest(parts), parts, tools)
                memory.record(agent, prompt_digest(parts), parts, tools)
                if len(parts) % 3 == 0:
                    await trio.lowlevel.checkpoint()
        async with open_prompt_store(path) as store:
            for parts, _ in sent:
                digest = prompt_digest(parts)
                got = await store.get(digest)
                assert got == await memory.get(digest)
                assert got is not None
                assert got.parts == tuple(parts)

    trio.run(main)


@given(
    previous=st.lists(st.binary(min_size=16, max_size=16), max_size=12),
    digests=st.lists(st.binary(min_size=16, max_size=16), max_size=12),
    depth=st.integers(0, 40),
)
def test_a_linked_row_rebuilds_the_digests_it_was_made_from(
    previous: list[bytes], digests: list[bytes], depth: int
) -> None:
    base, _ = link(None, previous)
    row, new_depth = link(("sha256:base", previous, depth), digests)
    assert rebuild([row, base] if row.base else [row]) == digests
    assert new_depth <= MAX_DEPTH
    assert row.base is None or new_depth == depth + 1


@given(st.lists(st.binary(max_size=600), max_size=5))
def test_a_long_body_cut_in_paragraphs_joins_back(paragraphs: list[bytes]) -> None:
    body = b"\\n\\n".join(paragraphs)
    new: dict[bytes, bytes] = {}
    digest = encode_blob(body, set(), new)
    cut_in = paragraphs_of(new[digest])
    if cut_in is None:
        assert plain_body(new[digest]) == body
    else:
        assert join_paragraphs([plain_body(new[p]) for p in cut_in]) == body


class _FailingOnce:
    """A connection whose first ``executemany`` fails, as a full disk would."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._failed = False

    def execute(self, *args: Any) -> sqlite3.Cursor:
        return self._db.execute(*args)

    def executemany(self, *args: Any) -> sqlite3.Cursor:
        if not self._failed:
            self._failed = True
            raise sqlite3.OperationalError("disk I/O error")
        return self._db.executemany(*args)

    def close(self) -> None:
        self._db.close()


@pytest.mark.trio
async def test_after_a_failed_write_the_next_prompts_are_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    window = [message(i) for i in range(8)]  # the same objects in every prompt
    first, second = [SYSTEM, *window], [SYSTEM + b" ", *window]
    async with open_prompt_store(tmp_path / "p.sqlite3") as prompts:
        store = prompts._store
        monkeypatch.setattr(store, "_db", _FailingOnce(store._db))
        prompts.record("ada", prompt_digest(first), first, TOOLS)
        await trio.sleep(0.5)  # written (and failed) alone
        prompts.record("ada", prompt_digest(second), second, TOOLS)
    assert "prompts not saved" in capsys.readouterr().err
    async with open_prompt_store(tmp_path / "p.sqlite3") as prompts:
        assert await prompts.get(prompt_digest(first)) is None
        stored = await prompts.get(prompt_digest(second))  # its parts were written again
        assert stored is not None
        assert stored.parts == tuple(second)
