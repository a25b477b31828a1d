"""How the prompt store lays prompts out, as pure functions (``_prompts`` does the I/O).

```
 blob:   digest (16-byte BLAKE2b of the body) → 0x00 + zlib(body)
                                              | 0x01 + digests of its paragraphs
 prompt: hash → fresh digests, and maybe a link: (base, head, skip, keep) means
         parts = fresh[:head] + parts_of(base)[skip : skip + keep] + fresh[head:]
```

Invariants:

* ``rebuild`` of the rows :func:`link` writes gives back the digests it was
  given, whatever the previous prompt was; a body cut in paragraphs joins back
  to the same bytes.
* :func:`link` never makes a chain of more than ``MAX_DEPTH`` links.
"""

import hashlib
import zlib
from collections.abc import Container, Sequence

import msgspec

__all__ = [
    "DIGEST",
    "MAX_DEPTH",
    "PromptRow",
    "blob_digest",
    "cut",
    "encode_blob",
    "join_paragraphs",
    "link",
    "paragraphs_of",
    "plain_body",
    "rebuild",
    "splice",
]

DIGEST = 16
MAX_DEPTH = 32
"""Links from a prompt to one stored whole, when written."""
_PLAIN, _SPLIT = b"\x00", b"\x01"  # a blob's first byte: zlib of the body, or paragraphs
_PARAGRAPH = b"\\n\\n"  # a blank line, as JSON escapes it inside a string
_SPLIT_OVER = 1024  # bodies longer than this are cut into paragraphs
_MIN_RUN = 4  # a shorter run of the previous prompt's parts is not worth a link


class PromptRow(msgspec.Struct, frozen=True):
    """A prompt as a row: its fresh parts' digests, spliced around a run of a base's."""

    fresh: bytes
    base: str | None = None
    head: int = 0
    skip: int = 0
    keep: int = 0


def blob_digest(body: bytes) -> bytes:
    """The key a body is stored under."""
    return hashlib.blake2b(body, digest_size=DIGEST).digest()


def encode_blob(body: bytes, known: Container[bytes], new: dict[bytes, bytes]) -> bytes:
    """Add what storing ``body`` takes to ``new`` (digest → stored bytes), unless
    ``known`` or ``new`` already has it; return its digest."""
    digest = blob_digest(body)
    if digest in known or digest in new:
        return digest
    if len(body) > _SPLIT_OVER and _PARAGRAPH in body:
        parts = body.split(_PARAGRAPH)
        stored = _SPLIT + b"".join(encode_blob(p, known, new) for p in parts)
    else:
        stored = _PLAIN + zlib.compress(body)
    new[digest] = stored
    return digest


def paragraphs_of(stored: bytes) -> list[bytes] | None:
    """The digests of a stored blob's paragraphs, or ``None`` if it is stored whole."""
    return cut(stored[1:]) if stored[:1] == _SPLIT else None


def plain_body(stored: bytes) -> bytes:
    """The body of a blob stored whole.

    Raises:
        ValueError: it is not (or a ``zlib.error``: it is damaged).
    """
    if stored[:1] != _PLAIN:
        raise ValueError("a paragraph is itself cut in paragraphs")
    return zlib.decompress(stored[1:])


def join_paragraphs(bodies: Sequence[bytes]) -> bytes:
    """A body from its paragraphs' bodies."""
    return _PARAGRAPH.join(bodies)


def cut(packed: bytes) -> list[bytes]:
    """Digests packed end to end, apart."""
    return [packed[i : i + DIGEST] for i in range(0, len(packed), DIGEST)]


def splice(previous: Sequence[bytes], digests: Sequence[bytes]) -> tuple[int, int] | None:
    """Where ``digests[1:]`` continues a run of ``previous`` (a sliding window: the
    oldest messages gone, new ones added): ``(skip, keep)``, or ``None`` if no run of
    at least a few parts is shared. ``digests[0]`` (the system message) is not sought."""
    if len(digests) < 2:
        return None
    try:
        skip = previous.index(digests[1])
    except ValueError:
        return None
    keep = 0
    limit = min(len(previous) - skip, len(digests) - 1)
    while keep < limit and previous[skip + keep] == digests[1 + keep]:
        keep += 1
    return (skip, keep) if keep >= _MIN_RUN else None


def link(
    previous: tuple[str, Sequence[bytes], int] | None, digests: Sequence[bytes]
) -> tuple[PromptRow, int]:
    """The row for a prompt of ``digests``, linked to ``previous`` (the same agent's
    last prompt: its hash, digests and depth) when they share a run; and its depth."""
    if previous is not None and previous[2] < MAX_DEPTH:
        base, base_digests, depth = previous
        run = splice(base_digests, digests)
        if run is not None:
            skip, keep = run
            fresh = b"".join([*digests[:1], *digests[1 + keep :]])
            return PromptRow(fresh, base, 1, skip, keep), depth + 1
    return PromptRow(b"".join(digests), None, len(digests)), 0


def rebuild(chain: Sequence[PromptRow]) -> list[bytes]:
    """The digests of ``chain[0]``'s parts; ``chain`` follows its links to a whole row.

    Raises:
        ValueError: a link asks for more than its base has.
    """
    digests = cut(chain[-1].fresh)
    for row in reversed(chain[:-1]):
        run = digests[row.skip : row.skip + row.keep]
        if len(run) != row.keep:
            raise ValueError("its base prompt is shorter than its link says")
        own = cut(row.fresh)
        digests = own[: row.head] + run + own[row.head :]
    return digests
