"""Data sources: discovery, reading and chunking (pure parts, no archival store)."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memvisor import UsageError
from memvisor.memory._sources import (
    ChunkSpec,
    chunk_spans,
    chunk_text,
    discover_files,
    file_passages,
    read_document,
)

words = st.text(alphabet=st.characters(categories=["L", "N", "P"]), min_size=1, max_size=12)
texts = st.lists(words, max_size=400).map(" ".join)
specs = st.integers(min_value=1, max_value=120).flatmap(
    lambda n: st.builds(ChunkSpec, tokens=st.just(n), overlap=st.integers(0, n - 1))
)


def _tokens(chunk: str) -> int:
    return sum(max(1, (len(w) + 3) // 4) for w in chunk.split())


@given(texts, specs)
def test_every_word_lands_in_a_chunk_in_order(text: str, spec: ChunkSpec) -> None:
    spans = chunk_spans(text, spec)
    assert chunk_text(text, spec) == [text[a:b] for a, b in spans]
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    for start, end in words:
        assert any(a <= start and end <= b for a, b in spans)
    for (a1, b1), (a2, b2) in itertools.pairwise(spans):
        assert a1 < a2  # always forward
        assert b1 < b2
        overlap_words = [w for w in words if a2 <= w[0] and w[1] <= b1]
        assert sum(_tokens(text[s:e]) for s, e in overlap_words) <= spec.overlap
    for a, b in spans:
        assert text[a:b] == text[a:b].strip()


@given(texts, specs)
def test_chunks_stay_within_the_size_unless_one_word_is_bigger(text: str, spec: ChunkSpec) -> None:
    for chunk in chunk_text(text, spec):
        assert _tokens(chunk) <= spec.tokens or len(chunk.split()) == 1


@given(texts, specs)
def test_chunking_always_moves_forward_and_is_deterministic(text: str, spec: ChunkSpec) -> None:
    chunks = chunk_text(text, spec)
    assert chunks == chunk_text(text, spec)
    assert len(chunks) <= max(1, len(text.split()))


def test_blank_text_gives_no_chunks() -> None:
    assert chunk_text("  \n\t ", ChunkSpec()) == []


@pytest.mark.parametrize(("tokens", "overlap"), [(0, 0), (10, 10), (10, -1)])
def test_a_bad_chunk_spec_is_a_usage_error(tokens: int, overlap: int) -> None:
    with pytest.raises(UsageError):
        ChunkSpec(tokens=tokens, overlap=overlap)


def test_discovery_walks_directories_filters_extensions_and_reports_missing(
    tmp_path: Path,
) -> None:
    (tmp_path / "docs" / "deep").mkdir(parents=True)
    (tmp_path / "docs" / "a.md").write_text("alpha")
    (tmp_path / "docs" / "deep" / "b.TXT").write_text("beta")
    (tmp_path / "docs" / "c.png").write_bytes(b"\x89PNG")
    (tmp_path / "notes.log").write_text("named explicitly")
    files, skipped = discover_files(
        [tmp_path / "docs", tmp_path / "notes.log", tmp_path / "missing"], [".md", "txt"]
    )
    assert [p.name for p in files] == ["a.md", "b.TXT", "notes.log"]
    assert [s.reason for s in skipped] == ["no such file or directory"]


def test_reading_refuses_binary_and_bad_utf8_and_broken_pdf(tmp_path: Path) -> None:
    (tmp_path / "bin.txt").write_bytes(b"\x00\x01\x02")
    (tmp_path / "latin.txt").write_bytes("caf\xe9".encode("latin-1"))
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 nonsense")
    for name in ("bin.txt", "latin.txt", "broken.pdf"):
        with pytest.raises(ValueError):  # noqa: PT011 - each reader says why in its own words
            read_document(tmp_path / name)


def test_a_real_pdf_is_read(tmp_path: Path) -> None:
    from pypdf import PdfWriter

    # A one-page PDF with a text object, written by hand: pypdf can read but not typeset.
    content = b"BT /F1 12 Tf 72 720 Td (Archival memory works) Tj ET"
    writer = PdfWriter()
    page = writer.add_blank_page(width=612, height=792)
    from pypdf.generic import (
        DecodedStreamObject,
        DictionaryObject,
        NameObject,
    )

    stream = DecodedStreamObject()
    stream.set_data(content)
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): writer._add_object(font)})}
    )
    page[NameObject("/Contents")] = writer._add_object(stream)
    path = tmp_path / "doc.pdf"
    with path.open("wb") as f:
        writer.write(f)
    assert "Archival memory works" in read_document(path)


def test_passage_ids_come_from_content_and_chunking_not_the_path(tmp_path: Path) -> None:
    spec = ChunkSpec(tokens=4, overlap=1)
    text = "one two three four five six seven eight nine ten"
    a = file_passages("docs", tmp_path / "a.txt", text, text.encode(), spec, at=1.0)
    b = file_passages("docs", tmp_path / "b.txt", text, text.encode(), spec, at=2.0)
    assert [p.id for p in a] == [p.id for p in b]
    assert len({p.id for p in a}) == len(a) > 1
    assert all(re.fullmatch(r"source:docs:[0-9a-f]{20}:\d+", p.id) for p in a)
    assert all(p.owner == "source:docs" for p in a)
    other = file_passages("docs", tmp_path / "a.txt", text, text.encode(), ChunkSpec(), at=1.0)
    assert {p.id for p in other}.isdisjoint({p.id for p in a})
