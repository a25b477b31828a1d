"""Archival memory on LanceDB: idempotent inserts, filters, paging, modes, indexes, bad input."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import lancedb
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memvisor import ConfigError, EmbeddingError, UsageError
from memvisor.memory._archival import (
    NO_EMBEDDER_NOTE,
    ArchivalPage,
    ArchivalStore,
    LanceArchivalStore,
    Passage,
    SearchMode,
    open_archival,
)
from memvisor.memory._archival_ids import IdFilter
from memvisor.memory._archival_query import RRF_K, rrf_fuse
from memvisor.memory._archival_search import fetch
from memvisor.memory._embedders import Vectors

ROOT = Path(__file__).resolve().parents[2]
MODES: list[SearchMode] = ["hybrid", "semantic", "fulltext"]
DIM = 64


class BagOfWordsEmbedder:
    """Deterministic test embedder: hashed bag of words in 64 dimensions, unit length.

    Texts sharing words are close; texts sharing none are (nearly) orthogonal. It
    counts what it embeds, so tests can check that nothing is embedded twice.
    """

    def __init__(self, name: str = "test:bow64", dim: int = DIM) -> None:
        self._name = name
        self._dim = dim
        self.embedded: list[str] = []
        self.fail = False

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return self._dim

    async def embed(self, texts: Sequence[str]) -> Vectors:
        await anyio.lowlevel.checkpoint()
        if self.fail:
            raise EmbeddingError("the test embedder was told to fail")
        self.embedded.extend(texts)
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
                out[row, digest[0] % self._dim] += 1.0 if digest[1] & 1 else -1.0
            norm = float(np.linalg.norm(out[row]))
            if norm:
                out[row] /= norm
            else:
                out[row, 0] = 1.0
        return out


def passage(n: int, text: str | None = None) -> Passage:
    return Passage(
        id=f"alice:{n}", owner="alice", text=text or f"passage number {n}", at=1000.0 + n
    )


@asynccontextmanager
async def opened(
    path: Path, embedder: BagOfWordsEmbedder | None = None, **kw: Any
) -> AsyncIterator[LanceArchivalStore]:
    async with open_archival(path, embedder=embedder, **kw) as store:
        yield store


async def all_pages(
    store: ArchivalStore, query: str, mode: SearchMode, page_size: int
) -> tuple[list[str], list[ArchivalPage]]:
    ids: list[str] = []
    pages: list[ArchivalPage] = []
    for page in range(10_000):
        result = await store.search(
            query, owners=["alice"], mode=mode, page=page, page_size=page_size
        )
        pages.append(result)
        if not result.hits:
            return ids, pages
        ids.extend(h.passage.id for h in result.hits)
    raise AssertionError("paging never ended")


FRUIT = [
    ("apples are red and sweet", ("food", "red"), 10.0),
    ("bananas are yellow and sweet", ("food",), 20.0),
    ("fire trucks are red", ("vehicle", "red"), 30.0),
    ("the sky is blue", (), 40.0),
    ("sweet red cherries in summer", ("food", "red"), 50.0),
    ("blue whales are the largest animals", ("animal",), 60.0),
]


async def fill_fruit(store: LanceArchivalStore) -> None:
    await store.insert(
        [
            Passage(id=f"alice:{i}", owner="alice", text=text, at=at, tags=tags)
            for i, (text, tags, at) in enumerate(FRUIT)
        ]
        + [Passage(id="bob:1", owner="bob", text="bob likes red apples", at=15.0)]
        + [Passage(id="source:docs:x:0", owner="source:docs", text="red is a colour", at=5.0)]
    )


# --- inserting ---------------------------------------------------------------------------


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(st.lists(st.integers(0, 12), max_size=8), min_size=1, max_size=5))
def test_inserting_is_idempotent_by_id(batches: list[list[int]]) -> None:
    async def body() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            embedder = BagOfWordsEmbedder()
            async with opened(Path(tmp), embedder) as store:
                added = 0
                for batch in batches:
                    added += await store.insert([passage(n) for n in batch])
                distinct = {n for batch in batches for n in batch}
                assert added == len(distinct)
                assert await store.count(["alice"]) == len(distinct)
                assert len(embedder.embedded) == len(distinct)  # nothing embedded twice

    anyio.run(body)


@pytest.mark.anyio
async def test_a_repeated_id_keeps_the_first_passage_and_is_not_embedded_again(
    tmp_path: Path,
) -> None:
    embedder = BagOfWordsEmbedder()
    async with opened(tmp_path, embedder) as store:
        assert await store.insert([passage(1, "first"), passage(1, "second")]) == 1
        assert await store.insert([passage(1, "third"), passage(2)]) == 1
        page = await store.search("first", owners=["alice"], mode="fulltext")
        assert [h.passage.text for h in page.hits] == ["first"]
        assert embedder.embedded == ["first", "passage number 2"]
    # Reopened: what is stored is known without asking the embedder again.
    async with opened(tmp_path, embedder) as store:
        assert await store.insert([passage(1), passage(2), passage(3)]) == 1
        assert embedder.embedded[-1:] == ["passage number 3"]
        assert await store.count(["alice"]) == 3


@pytest.mark.anyio
async def test_every_field_round_trips(tmp_path: Path) -> None:
    original = Passage(
        id="source:docs:ab:0",
        owner="source:docs",
        text="Zürich 🙂 'quoted' \"double\" \\ back",
        at=1_700_000_000.25,
        tags=("a", "b c", "it's"),
        origin="/tmp/docs/a.md",
    )
    async with opened(tmp_path, BagOfWordsEmbedder()) as store:
        await store.insert([original])
        page = await store.search("zürich", owners=["source:docs"], mode="fulltext")
    assert [h.passage for h in page.hits] == [original]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "bad",
    [
        Passage(id="", owner="alice", text="x", at=1.0),
        Passage(id="a:1", owner="", text="x", at=1.0),
        Passage(id="a:1", owner="alice", text="  \n", at=1.0),
        Passage(id="a:1", owner="alice", text="x", at=float("nan")),
    ],
)
async def test_a_batch_with_an_invalid_passage_stores_nothing(
    tmp_path: Path, bad: Passage
) -> None:
    async with opened(tmp_path, BagOfWordsEmbedder()) as store:
        with pytest.raises(UsageError):
            await store.insert([passage(1), bad])
        assert await store.count(["alice"]) == 0


@pytest.mark.anyio
async def test_a_failing_embedder_stores_nothing(tmp_path: Path) -> None:
    embedder = BagOfWordsEmbedder()
    async with opened(tmp_path, embedder) as store:
        embedder.fail = True
        with pytest.raises(EmbeddingError):
            await store.insert([passage(1)])
        embedder.fail = False
        assert await store.count(["alice"]) == 0
        assert await store.insert([passage(1)]) == 1


@pytest.mark.anyio
async def test_an_embedder_whose_vectors_change_length_is_refused(tmp_path: Path) -> None:
    async with opened(tmp_path, BagOfWordsEmbedder()) as store:
        await store.insert([passage(1)])
    async with opened(tmp_path, BagOfWordsEmbedder(dim=32)) as store:
        with pytest.raises(ConfigError, match="length 64"):
            await store.insert([passage(2)])


# --- filters -------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_owners_tags_and_dates_filter_every_mode(tmp_path: Path, mode: SearchMode) -> None:
    async with opened(tmp_path, BagOfWordsEmbedder()) as store:
        await fill_fruit(store)

        async def ids(**kw: Any) -> set[str]:
            page = await store.search("red", mode=mode, page_size=100, **kw)
            return {h.passage.id for h in page.hits}

        alice_red = {"alice:0", "alice:2", "alice:4"}
        if mode == "fulltext":
            assert await ids(owners=["alice"]) == alice_red
        else:  # by meaning every passage is a hit, the red ones first
            assert await ids(owners=["alice"]) == {f"alice:{i}" for i in range(6)}
        assert "bob:1" in await ids(owners=["alice", "bob"])
        assert await ids(owners=["bob"]) == {"bob:1"}
        assert await ids(owners=["source:docs"]) == {"source:docs:x:0"}
        assert await ids(owners=[]) == set()
        assert await ids(owners=["carol"]) == set()
        assert await ids(owners=["alice"], tags=["red", "food"]) == {"alice:0", "alice:4"}
        assert await ids(owners=["alice"], tags=["vehicle"]) == {"alice:2"}
        assert await ids(owners=["alice"], tags=["nope"]) == set()
        in_range = await ids(owners=["alice"], start=20.0, end=50.0)
        assert in_range <= {"alice:1", "alice:2", "alice:3"}
        assert "alice:2" in in_range
        assert await ids(owners=["alice"], start=50.0) & alice_red == {"alice:4"}
        assert await ids(owners=["alice"], end=10.0) == set()


@pytest.mark.anyio
async def test_count_and_owners(tmp_path: Path) -> None:
    async with opened(tmp_path, BagOfWordsEmbedder()) as store:
        assert await store.owners() == []
        assert await store.count(["alice"]) == 0
        await fill_fruit(store)
        assert await store.owners() == ["alice", "bob", "source:docs"]
        assert await store.count(["alice"]) == 6
        assert await store.count(["alice", "bob"]) == 7
        assert await store.count([]) == 0


@pytest.mark.anyio
@pytest.mark.parametrize("embedded", [True, False], ids=["embedder", "fulltext-only"])
async def test_delete_owner_removes_its_passages_and_only_those(
    tmp_path: Path, embedded: bool
) -> None:
    embedder = BagOfWordsEmbedder() if embedded else None
    async with opened(tmp_path, embedder) as store:
        await fill_fruit(store)
        assert await store.delete_owner("alice") == 6
        assert await store.owners() == ["bob", "source:docs"]
        assert await store.count(["alice"]) == 0
        assert await store.count(["bob", "source:docs"]) == 2
        for mode in MODES:
            page = await store.search("red", owners=["alice", "bob"], mode=mode)
            assert [h.passage.id for h in page.hits] == ["bob:1"]
        assert await store.delete_owner("alice") == 0
        assert await store.delete_owner("nobody") == 0
        # The ids are free again: a new agent of the same name stores its own passages.
        assert await store.insert([passage(0, "a new alice remembers pears")]) == 1
        page = await store.search("pears", owners=["alice"], mode="fulltext")
        assert [h.passage.text for h in page.hits] == ["a new alice remembers pears"]
    async with opened(tmp_path, embedder) as store:  # the deletion is on disk
        assert await store.count(["alice"]) == 1
        assert await store.owners() == ["alice", "bob", "source:docs"]


@pytest.mark.anyio
async def test_delete_owner_of_an_empty_archive_deletes_nothing(tmp_path: Path) -> None:
    async with opened(tmp_path) as store:
        assert await store.delete_owner("alice") == 0
    async with opened(tmp_path) as store:
        await store.insert([passage(1)])
    async with opened(tmp_path) as store:
        assert await store.delete_owner("alice") == 1
    with pytest.raises(UsageError, match="closed"):
        await store.delete_owner("alice")


@settings(max_examples=15, deadline=None)
@given(owner=st.text(min_size=1, max_size=12))
def test_any_owner_to_delete_is_a_value_never_sql(owner: str) -> None:
    async def body() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            async with opened(Path(tmp)) as store:
                other = "alice" if owner != "alice" else "bob"
                mine = Passage(id=f"{owner}:1", owner=owner, text="hello there", at=1.0)
                theirs = Passage(id=f"{other}:\x00", owner=other, text="hello", at=1.0)
                await store.insert([mine, theirs])
                assert await store.delete_owner(owner) == 1
                assert await store.owners() == [other]
                assert await store.count([other]) == 1

    anyio.run(body)


@settings(max_examples=25, deadline=None)
@given(
    owner=st.text(min_size=1, max_size=12),
    tag=st.text(min_size=1, max_size=12),
    when=st.floats(allow_nan=False, allow_infinity=False),
)
def test_any_owner_tag_or_time_is_a_value_never_sql(owner: str, tag: str, when: float) -> None:
    async def body() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            async with opened(Path(tmp), BagOfWordsEmbedder()) as store:
                p = Passage(id=f"{owner}:1", owner=owner, text="hello there", at=when, tags=(tag,))
                await store.insert([p, passage(1, "hello")])
                for mode in MODES:
                    page = await store.search(
                        "hello", owners=[owner], tags=[tag], start=when, end=None, mode=mode
                    )
                    assert [h.passage for h in page.hits] == [p]
                assert await store.count([owner]) == 1
                assert owner in await store.owners()

    anyio.run(body)


# --- modes and paging -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_each_mode_ranks_the_obvious_passage_first(tmp_path: Path) -> None:
    async with opened(tmp_path, BagOfWordsEmbedder()) as store:
        await fill_fruit(store)
        for mode in MODES:
            page = await store.search("blue whales", owners=["alice"], mode=mode)
            assert page.mode == mode
            assert page.note is None
            assert page.hits[0].passage.id == "alice:5"
            scores = [h.score for h in page.hits]
            assert scores == sorted(scores, reverse=True)


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_paging_shows_every_hit_exactly_once(tmp_path: Path, mode: SearchMode) -> None:
    async with opened(tmp_path, BagOfWordsEmbedder(), hybrid_window=10) as store:
        words = ["ant", "bee", "cat", "dog", "eel"]
        await store.insert(
            [passage(n, f"{words[n % 5]} {words[n % 3]} item {n}") for n in range(40)]
        )
        for page_size in (1, 3, 7):
            ids, pages = await all_pages(store, "cat dog", mode, page_size)
            assert len(ids) == len(set(ids)) == pages[0].total
            assert all(p.total == pages[0].total for p in pages)
            assert all(len(p.hits) == page_size for p in pages[:-2])
        # One page as large as hybrid's window holds the same list, in the same order.
        size = 10 if mode == "hybrid" else 1000
        one_page = await store.search("cat dog", owners=["alice"], mode=mode, page_size=size)
        assert [h.passage.id for h in one_page.hits] == ids[:size]
        if mode == "fulltext":  # exactly the passages holding a word of the query
            assert set(ids) == {f"alice:{n}" for n in range(40) if n % 5 in (2, 3) or n % 3 == 2}
        elif mode == "semantic":  # every passage, by distance
            assert len(ids) == 40
        else:  # the fused window: the best 10 by meaning and the best 10 by words
            assert 10 <= len(ids) <= 20


@pytest.mark.anyio
async def test_past_the_last_page_is_empty_not_an_error(tmp_path: Path) -> None:
    async with opened(tmp_path, BagOfWordsEmbedder()) as store:
        await fill_fruit(store)
        for mode in MODES:
            page = await store.search("red", owners=["alice"], mode=mode, page=500)
            assert page.hits == ()
            assert page.page == 500
            assert page.total > 0


@pytest.mark.anyio
async def test_an_empty_archive_answers_with_an_empty_page(tmp_path: Path) -> None:
    async with opened(tmp_path / "not" / "yet", BagOfWordsEmbedder()) as store:
        for mode in MODES:
            page = await store.search("anything", owners=["alice"], mode=mode)
            assert (page.hits, page.total, page.mode) == ((), 0, mode)


# --- without an embedder -------------------------------------------------------------------


@pytest.mark.anyio
async def test_without_an_embedder_search_is_full_text_only_and_says_so(tmp_path: Path) -> None:
    async with opened(tmp_path) as store:
        await fill_fruit(store)
        for mode in MODES:
            page = await store.search("sweet", owners=["alice"], mode=mode)
            assert page.mode == "fulltext"
            assert page.note == (None if mode == "fulltext" else NO_EMBEDDER_NOTE)
            assert {h.passage.id for h in page.hits} == {"alice:0", "alice:1", "alice:4"}


@pytest.mark.anyio
async def test_an_embedded_archive_opened_without_embedder_searches_text_and_refuses_inserts(
    tmp_path: Path,
) -> None:
    async with opened(tmp_path, BagOfWordsEmbedder()) as store:
        await fill_fruit(store)
    async with opened(tmp_path) as store:
        page = await store.search("whales", owners=["alice"])
        assert (page.mode, page.note) == ("fulltext", NO_EMBEDDER_NOTE)
        assert [h.passage.id for h in page.hits] == ["alice:5"]
        assert await store.owners() == ["alice", "bob", "source:docs"]
        with pytest.raises(ConfigError, match="test:bow64"):
            await store.insert([passage(99)])


@pytest.mark.anyio
async def test_another_embedder_on_reopen_is_a_config_error_that_says_what_to_do(
    tmp_path: Path,
) -> None:
    async with opened(tmp_path, BagOfWordsEmbedder()) as store:
        await store.insert([passage(1)])
    with pytest.raises(ConfigError, match=r"'test:bow64'.*'other:model'.*configure 'test:bow64'"):
        async with opened(tmp_path, BagOfWordsEmbedder("other:model")):
            pass


@pytest.mark.anyio
async def test_an_embedder_on_an_archive_filled_without_one_is_a_config_error(
    tmp_path: Path,
) -> None:
    async with opened(tmp_path) as store:
        await store.insert([passage(1)])
    with pytest.raises(ConfigError, match="without an embedder"):
        async with opened(tmp_path, BagOfWordsEmbedder()):
            pass


# --- indexes -------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_full_text_finds_passages_added_after_the_index_was_built(tmp_path: Path) -> None:
    async with opened(tmp_path, BagOfWordsEmbedder()) as store:
        await store.insert([passage(n) for n in range(20)])
        await store.maintain()
        table = lancedb.connect(tmp_path).open_table("passages")
        assert any(index.columns == ["text"] for index in table.list_indices())
        await store.insert([passage(100, "a zeppelin over the harbour")])
        table = lancedb.connect(tmp_path).open_table("passages")
        (fts,) = [index for index in table.list_indices() if index.columns == ["text"]]
        assert fts.num_unindexed_rows == 1  # found below while not in the index
        for mode in MODES:
            page = await store.search("zeppelin", owners=["alice"], mode=mode)
            assert page.hits[0].passage.id == "alice:100"
        full_text = await store.search("zeppelin", owners=["alice"], mode="fulltext")
        assert full_text.total == 1


@pytest.mark.anyio
async def test_the_ann_index_is_built_by_itself_past_the_threshold(tmp_path: Path) -> None:
    async with opened(
        tmp_path, BagOfWordsEmbedder(), ann_threshold=60, maintenance_delay=0.0
    ) as store:
        await store.insert([passage(n, f"item {n} of the first lot") for n in range(50)])
        await anyio.sleep(0.3)
        assert not store.statistics().ann_index
        await store.insert([passage(n, f"thing {n} of the second lot") for n in range(50, 70)])
        for _ in range(600):  # the background task builds it: wait up to 30 s
            if store.statistics().ann_index:
                break
            await anyio.sleep(0.05)
        table = lancedb.connect(tmp_path).open_table("passages")
        assert any(index.columns == ["vector"] for index in table.list_indices())
        page = await store.search("thing 65 second", owners=["alice"], mode="semantic")
        assert page.hits[0].passage.id == "alice:65"
        await store.insert([passage(200, "a brand new zeppelin")])
        page = await store.search("zeppelin", owners=["alice"], mode="semantic")
        assert page.hits[0].passage.id == "alice:200"
        assert store.statistics().maintenance_runs >= 1


@pytest.mark.anyio
async def test_a_reopened_archive_keeps_its_indexes_and_passages(tmp_path: Path) -> None:
    async with opened(tmp_path, BagOfWordsEmbedder(), ann_threshold=10) as store:
        await store.insert([passage(n) for n in range(30)])
        await store.maintain()
        assert store.statistics().ann_index
    async with opened(tmp_path, BagOfWordsEmbedder(), ann_threshold=10) as store:
        assert store.statistics().ann_index
        assert await store.count(["alice"]) == 30


@pytest.mark.anyio
async def test_a_page_is_fetched_right_even_with_stale_row_ids(tmp_path: Path) -> None:
    async with opened(tmp_path, BagOfWordsEmbedder()) as store:
        await store.insert([passage(n) for n in range(5)])
        handle = store._table
        assert fetch(handle, [("alice:1", 3)])["alice:1"] == passage(1)  # another's row
        assert fetch(handle, [("alice:2", 10**12)])["alice:2"] == passage(2)  # no such row
        assert fetch(handle, []) == {}


# --- hostile and bad input -----------------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(min_size=1), min_size=1, max_size=4))
def test_no_query_text_ever_fails_to_parse(queries: list[str]) -> None:
    hostile = ['"', "a:b", "(x", "AND", "OR NOT", "*", "\\", "'", "title:(a", "x~2", "+-", "^3"]

    async def body() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            async with opened(Path(tmp), BagOfWordsEmbedder()) as store:
                await store.insert([passage(1, "AND OR NOT quotes \" and 'apostrophes'")])
                for query in [*queries, *hostile]:
                    for mode in MODES:
                        if not query.strip():
                            with pytest.raises(UsageError):
                                await store.search(query, owners=["alice"], mode=mode)
                            continue
                        page = await store.search(query, owners=["alice"], mode=mode)
                        assert page.total >= len(page.hits)

    anyio.run(body)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"query": ""}, "needs a query"),
        ({"query": "  \t"}, "needs a query"),
        ({"page": -1}, "page must be"),
        ({"page_size": 0}, "page_size must be"),
        ({"page_size": 1001}, "page_size must be"),
        ({"mode": "fuzzy"}, "search mode"),
        ({"start": float("nan")}, "start must be"),
        ({"end": float("inf")}, "end must be"),
    ],
)
async def test_bad_search_arguments_are_usage_errors(
    tmp_path: Path, kw: dict[str, Any], message: str
) -> None:
    args: dict[str, Any] = {"query": "red", "owners": ["alice"], **kw}
    async with opened(tmp_path, BagOfWordsEmbedder()) as store:
        with pytest.raises(UsageError, match=message):
            await store.search(**args)


@pytest.mark.anyio
async def test_a_file_where_the_directory_should_be_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "archival"
    path.write_text("not a directory")
    with pytest.raises(ConfigError, match="is a file"):
        async with opened(path):
            pass


@pytest.mark.anyio
async def test_a_table_memvisor_did_not_make_is_refused_and_left_alone(tmp_path: Path) -> None:
    lancedb.connect(tmp_path).create_table("passages", data=pa.table({"id": ["x"]}))
    with pytest.raises(ConfigError, match="did not make"):
        async with opened(tmp_path):
            pass
    assert lancedb.connect(tmp_path).open_table("passages").count_rows() == 1


@pytest.mark.anyio
async def test_a_closed_store_refuses_work(tmp_path: Path) -> None:
    async with opened(tmp_path) as store:
        pass
    with pytest.raises(UsageError, match="closed"):
        await store.search("x", owners=["alice"])
    with pytest.raises(UsageError, match="closed"):
        await store.insert([passage(1)])


# --- two handles, other loops ----------------------------------------------------------------


@pytest.mark.anyio
async def test_another_handle_sees_new_passages_after_its_refresh_interval(
    tmp_path: Path,
) -> None:
    async with (
        opened(tmp_path, BagOfWordsEmbedder()) as writer,
        opened(tmp_path, BagOfWordsEmbedder(), refresh_interval=0.0) as reader,
    ):
        await writer.insert([passage(1, "first words")])
        assert await reader.count(["alice"]) == 1
        await writer.insert([passage(2, "second words")])
        page = await reader.search("second", owners=["alice"], mode="fulltext")
        assert [h.passage.id for h in page.hits] == ["alice:2"]
        # Both insert the same id: it is stored once.
        assert await reader.insert([passage(3)]) + await writer.insert([passage(3)]) == 1
        assert await writer.count(["alice"]) == 3


def test_without_threads_it_runs_on_the_event_loop_under_a_mock_clock(tmp_path: Path) -> None:
    import trio
    import trio.testing

    async def body() -> None:
        async with opened(tmp_path, BagOfWordsEmbedder(), threads=False) as store:
            started = trio.current_time()
            await store.insert([passage(n) for n in range(5)])
            page = await store.search("number 3", owners=["alice"])
            assert page.hits[0].passage.id == "alice:3"
            assert trio.current_time() == started  # the disk took no virtual time

    trio.run(body, clock=trio.testing.MockClock(autojump_threshold=0))


# --- pure parts ----------------------------------------------------------------------------


def test_rrf_scores_are_reciprocal_ranks_and_ties_go_to_the_smaller_id() -> None:
    fused = dict(rrf_fuse([["a", "b", "c"], ["c", "d"]], k=60))
    assert fused["a"] == pytest.approx(1 / 61)
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert fused["d"] == pytest.approx(1 / 62)
    default = dict(rrf_fuse([["a", "b"], ["b"]]))
    assert default["b"] == pytest.approx(1 / (RRF_K + 2) + 1 / (RRF_K + 1))
    assert [pid for pid, _ in rrf_fuse([["b", "a"], ["a", "b"]])] == ["a", "b"]
    assert [pid for pid, _ in rrf_fuse([["x", "y"], ["z"]])] == ["x", "z", "y"]


@given(st.sets(st.text()), st.sets(st.text()))
def test_the_id_filter_never_misses_an_id_it_was_given(stored: set[str], other: set[str]) -> None:
    half = set(list(stored)[: len(stored) // 2])
    ids = IdFilter(half)
    ids.add(stored - half)
    assert all(ids.maybe_stored(list(stored)))
    flags = ids.maybe_stored(list(other - stored))
    assert sum(flags) <= 1  # 64-bit hashes: a collision is (all but) impossible


# --- the benchmark -------------------------------------------------------------------------


@pytest.mark.slow
def test_bench_memory_prints_one_json_object_with_every_figure(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "bench_memory.py"),
            "--quick",
            "--sizes",
            "300,1200",
            "--tmpdir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert set(figures["archival"]) == {"300", "1200"}
    for size in figures["archival"].values():
        assert set(size) == {
            "insert_per_s",
            "raw_insert_per_s",
            "search_p50_ms",
            "search_p95_ms",
            "raw_search_p50_ms",
            "ann_recall@10",
        }
        assert all(value > 0 for value in size.values())
    assert set(figures["recall_search_p50_ms"]) == {"1200"}
