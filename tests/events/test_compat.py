"""The log is forever: every event ever written must still decode, to the same thing.

``corpus/v1.msgpack.jsonl`` holds one frame per event type, exactly as
:func:`~memvisor.events.encode_event` wrote it when the type was introduced,
next to the event's JSON form. The test decodes every frame with today's code and
compares it with the JSON. It fails when:

* a tag was renamed or removed (the frame no longer decodes);
* a field changed type or was removed, or a new field has no default;
* a new event type has no line yet (add one with ``make_corpus.py``).

**Never regenerate or edit an existing line.** The corpus pins the on-disk
format; rewriting it to make this test pass would hide exactly the break it
exists to catch, and real logs written by older versions would stop opening.
``make_corpus.py`` only ever appends lines for tags the corpus lacks.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path

import msgspec
import pytest

from memvisor.events import Event, decode_event, event_type

CORPUS = Path(__file__).parent / "corpus" / "v1.msgpack.jsonl"


class CorpusLine(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    tag: str
    hex: str
    repr: str


def _load() -> list[CorpusLine]:
    return [
        msgspec.json.decode(line, type=CorpusLine)
        for line in CORPUS.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


LINES = _load()


def test_corpus_has_one_line_for_every_event_type_in_the_union() -> None:
    corpus_tags = [line.tag for line in LINES]
    assert len(set(corpus_tags)) == len(corpus_tags), "a tag appears twice in the corpus"
    union_tags = {cls.__struct_config__.tag for cls in typing.get_args(Event)}
    missing = union_tags - set(corpus_tags)
    assert not missing, (
        f"event types without a corpus line: {sorted(map(str, missing))};"
        " run tests/events/make_corpus.py (it only adds lines, never rewrites them)"
    )


@pytest.mark.parametrize("line", LINES, ids=[line.tag for line in LINES])
def test_corpus_frame_still_decodes_to_its_recorded_json_form(line: CorpusLine) -> None:
    event = decode_event(bytes.fromhex(line.hex))
    assert event_type(event) == line.tag
    assert event == msgspec.json.decode(line.repr, type=Event)
    # Field by field and type by type, without the typed decoder's coercions: a
    # field whose type changed (say int to float) fails here even though the
    # old value still converts.
    got = json.loads(msgspec.json.encode(event))
    _assert_same_json(got, json.loads(line.repr), path=line.tag)


def _assert_same_json(got: object, want: object, *, path: str) -> None:
    assert type(got) is type(want), f"{path}: {got!r} is not {want!r}"
    if isinstance(want, dict):
        assert isinstance(got, dict)
        assert got.keys() == want.keys(), f"{path}: fields {got.keys()} != {want.keys()}"
        for key in want:
            _assert_same_json(got[key], want[key], path=f"{path}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, list)
        assert len(got) == len(want), f"{path}: {got!r} != {want!r}"
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            _assert_same_json(g, w, path=f"{path}[{i}]")
    else:
        assert got == want, f"{path}: {got!r} != {want!r}"
