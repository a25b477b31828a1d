"""Data sources: files turned into archival passages, once.

```
PATH... ──► discover (recursive, extension filter) ──► read (text, Markdown, PDF)
        ──► chunk (≈N tokens, overlap) ──► Passage(id = source:NAME:<content hash>:<chunk>)
        ──► embed + insert (idempotent by id) into archival, owner "source:NAME"
```

Invariants:

* A passage's id is derived from the file's *content* and the chunk parameters,
  so loading the same file twice adds nothing, whatever its path.
* A file that cannot be read is reported and skipped; it never aborts the load.
* Pure parts (chunking, ids) have no I/O; reading files is the only I/O here,
  and inserting is the archival store's job.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import anyio
import msgspec

from .._exceptions import UsageError
from ._archival_model import ArchivalStore, Passage

__all__ = [
    "DEFAULT_EXTENSIONS",
    "ChunkSpec",
    "LoadReport",
    "SkippedFile",
    "chunk_spans",
    "chunk_text",
    "discover_files",
    "file_passages",
    "load_source",
    "read_document",
    "source_owner",
]

DEFAULT_EXTENSIONS = (".txt", ".md", ".markdown", ".pdf")

_WORD = re.compile(r"\S+")


class ChunkSpec(msgspec.Struct, frozen=True, kw_only=True):
    """How documents are cut into passages."""

    tokens: int = 300
    """Target passage size, in estimated tokens."""
    overlap: int = 50
    """Estimated tokens repeated from the end of one passage at the start of the next."""

    def __post_init__(self) -> None:
        if self.tokens < 1:
            raise UsageError(f"chunk size must be at least 1 token, not {self.tokens}")
        if not 0 <= self.overlap < self.tokens:
            raise UsageError(
                f"overlap must be at least 0 and less than the chunk size ({self.tokens}),"
                f" not {self.overlap}"
            )


class SkippedFile(msgspec.Struct, frozen=True, kw_only=True):
    """A file the load could not use, and why."""

    path: str
    reason: str


def source_owner(name: str) -> str:
    """The archival owner under which a source's passages are stored."""
    return f"source:{name}"


def _word_tokens(word: str) -> int:
    # About four characters per token for English; every word is at least one.
    return max(1, (len(word) + 3) // 4)


def chunk_text(text: str, spec: ChunkSpec) -> list[str]:
    """Cut ``text`` into passages of about ``spec.tokens`` tokens, cut at whitespace.

    Consecutive passages share about ``spec.overlap`` tokens. Empty or blank
    text gives no passages; every word of the text is in at least one passage.
    """
    return [text[start:end] for start, end in chunk_spans(text, spec)]


def chunk_spans(text: str, spec: ChunkSpec) -> list[tuple[int, int]]:
    """Where :func:`chunk_text` cuts: ``(start, end)`` character offsets, in order."""
    words = [(m.start(), m.end(), _word_tokens(m.group())) for m in _WORD.finditer(text)]
    spans: list[tuple[int, int]] = []
    first = 0
    while first < len(words):
        last, size = first, 0
        while last < len(words) and (size == 0 or size + words[last][2] <= spec.tokens):
            size += words[last][2]
            last += 1
        spans.append((words[first][0], words[last - 1][1]))
        if last == len(words):
            break
        # Step back over about `overlap` tokens, but only as far as still leaves
        # room for the next new word: every passage must reach past the last one.
        back, kept, new_word = last, 0, words[last][2]
        while (
            back - 1 > first
            and kept + words[back - 1][2] <= spec.overlap
            and kept + words[back - 1][2] + new_word <= spec.tokens
        ):
            back -= 1
            kept += words[back][2]
        first = back
    return spans


def discover_files(
    paths: Iterable[Path], extensions: Sequence[str] = DEFAULT_EXTENSIONS
) -> tuple[list[Path], list[SkippedFile]]:
    """Files under ``paths`` (directories recursively) whose suffix is in ``extensions``.

    A path named explicitly is taken whatever its suffix; only directory walks
    filter. Missing paths are reported as skipped. The result is sorted and has
    no duplicates.
    """
    wanted = {e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions}
    found: set[Path] = set()
    skipped: list[SkippedFile] = []
    for path in paths:
        if path.is_file():
            found.add(path)
        elif path.is_dir():
            found.update(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in wanted)
        else:
            skipped.append(SkippedFile(path=str(path), reason="no such file or directory"))
    return sorted(found), skipped


def read_document(path: Path) -> str:
    """The text of a text, Markdown or PDF file.

    Raises:
        OSError: the file cannot be read.
        ValueError: the file is not valid UTF-8 text or not a readable PDF.
    """
    if path.suffix.lower() == ".pdf":
        return _read_pdf(path)
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise ValueError("binary file, not text")
    return data.decode("utf-8")


def _read_pdf(path: Path) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(path)
        pages = [page.extract_text() or "" for page in reader.pages]
    except PdfReadError as exc:
        raise ValueError(f"not a readable PDF ({exc})") from None
    return "\n\n".join(pages)


def file_passages(
    source: str, path: Path, text: str, content: bytes, spec: ChunkSpec, *, at: float
) -> list[Passage]:
    """The passages of one file: ids from its content hash and the chunking."""
    digest = hashlib.sha256(content + f"|{spec.tokens}|{spec.overlap}".encode()).hexdigest()
    owner = source_owner(source)
    return [
        Passage(
            id=f"{owner}:{digest[:20]}:{i}",
            owner=owner,
            text=chunk,
            at=at,
            tags=(source,),
            origin=str(path),
        )
        for i, chunk in enumerate(chunk_text(text, spec))
    ]


def iter_batches(items: Sequence[Passage], size: int) -> Iterator[Sequence[Passage]]:
    """``items`` in consecutive slices of at most ``size``."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


class LoadReport(msgspec.Struct, frozen=True, kw_only=True):
    """What one ``load`` did."""

    source: str
    files: int
    """Files read."""
    passages: int
    """Passages cut from them."""
    added: int
    """Passages that were new to archival (0 when the same files are loaded again)."""
    skipped: tuple[SkippedFile, ...]


async def load_source(
    store: ArchivalStore,
    source: str,
    paths: Sequence[Path],
    *,
    spec: ChunkSpec | None = None,
    extensions: Sequence[str] = DEFAULT_EXTENSIONS,
    at: float,
    on_file: Callable[[Path, int, int], object] | None = None,
) -> LoadReport:
    """Read, chunk and insert the files under ``paths`` as source ``source``.

    Args:
        on_file: Called as ``on_file(path, index, total)`` before each file, for progress.
    """
    if not _SOURCE_NAME.fullmatch(source):
        raise UsageError(
            f"a source name is letters, digits, '.', '_' and '-' (at most 64), not {source!r}"
        )
    spec = spec or ChunkSpec()
    files, skipped = discover_files(paths, extensions)
    read = passages = added = 0
    for index, path in enumerate(files):
        if on_file is not None:
            on_file(path, index, len(files))
        try:
            content = await anyio.Path(path).read_bytes()
            text = await anyio.to_thread.run_sync(read_document, path)
        except (OSError, ValueError) as exc:
            skipped.append(SkippedFile(path=str(path), reason=_reason(exc)))
            continue
        read += 1
        chunks = file_passages(source, path, text, content, spec, at=at)
        passages += len(chunks)
        for batch in iter_batches(chunks, 256):
            added += await store.insert(batch)
    return LoadReport(
        source=source, files=read, passages=passages, added=added, skipped=tuple(skipped)
    )


_SOURCE_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _reason(exc: OSError | ValueError) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)
