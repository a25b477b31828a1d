"""The portable export: export → parse gives back every event, and damage names its line."""

from __future__ import annotations

import json
import math
import zlib

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from memvisor._exceptions import EventDecodeError, UsageError
from memvisor.events import (
    EXPORT_FORMAT,
    EXPORT_VERSION,
    AgentCreated,
    CoreMemoryEdited,
    Event,
    ExportedPrompt,
    ExternalEvent,
    LLMResponded,
    StoredPrompt,
    TimerSet,
    UserMessage,
    export_lines,
    parse_export,
    prompt_digest,
    rename,
)

from .strategies import EVENT_CLASSES, any_event, event_of

T0 = 1_735_689_600.0


def as_log(events: list[Event], agent: str = "sam") -> list[Event]:
    """``events`` as one agent's whole log: that agent, seq 1 … N."""
    return [
        msgspec.structs.replace(event, agent=agent, seq=seq)
        for seq, event in enumerate(events, start=1)
    ]


logs = st.tuples(event_of(AgentCreated), st.lists(any_event(), max_size=5)).map(
    lambda drawn: as_log([drawn[0], *drawn[1]])
)
"""Whole logs of one agent (its agent_created first), every event type and field drawn."""


def exported(events: list[Event]) -> list[bytes]:
    return list(export_lines(events, exported_at=T0))


def a_log() -> list[Event]:
    return [
        AgentCreated(agent="sam", seq=1, at=T0, model="m", system="Be kind. ✓"),
        UserMessage(agent="sam", seq=2, at=T0 + 1, text="Olá, 世界 🌍"),
        ExternalEvent(agent="sam", seq=3, at=T0 + 2, source="webhook", payload={"n": 1.5}),
        UserMessage(agent="sam", seq=4, at=T0 + 3, text="and a last one"),
    ]


def damage(lines: list[bytes], number: int, line: bytes | None) -> list[bytes]:
    """``lines`` with line ``number`` (1-based) replaced, or removed when ``line`` is None."""
    copy = list(lines)
    if line is None:
        del copy[number - 1]
    else:
        copy[number - 1] = line
    return copy


def refused_at(lines: list[bytes], number: int) -> str:
    """Parse ``lines``, which must be refused at line ``number``; the message."""
    with pytest.raises(EventDecodeError) as caught:
        parse_export(lines)
    message = str(caught.value)
    assert message.startswith(f"line {number}: "), message
    return message


def header_of(lines: list[bytes]) -> dict[str, object]:
    value = json.loads(lines[0])
    assert isinstance(value, dict)
    return value


def with_header(lines: list[bytes], **changes: object) -> list[bytes]:
    header = {**header_of(lines), **changes}
    header = {key: value for key, value in header.items() if value is not None}
    return [json.dumps(header).encode() + b"\n", *lines[1:]]


# --- round trips ------------------------------------------------------------------------


@given(logs)
def test_export_then_parse_gives_back_every_event(events: list[Event]) -> None:
    parsed = parse_export(exported(events))
    assert parsed.events == tuple(events)
    assert parsed.header.agent == "sam"
    assert parsed.header.events == len(events)
    assert parsed.header.exported_at == T0


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda cls: cls.__name__)
@given(data=st.data())
def test_every_event_type_round_trips_through_json(cls: type[Event], data: st.DataObject) -> None:
    event = data.draw(event_of(cls))
    log = as_log([AgentCreated(agent="x", seq=1, at=T0), event])
    assert parse_export(exported(log)).events == tuple(log)


@given(logs)
def test_an_event_line_is_what_log_json_prints(events: list[Event]) -> None:
    lines = exported(events)
    assert len(lines) == len(events) + 1
    assert all(line.endswith(b"\n") and line.count(b"\n") == 1 for line in lines)
    for event, line in zip(events, lines[1:], strict=True):
        printed = msgspec.json.encode(event)  # what `memvisor log NAME --json` prints
        if b"Infinity" not in line and b"NaN" not in line:
            assert line == printed + b"\n"


def test_the_header_names_format_version_agent_count_and_checksums() -> None:
    lines = exported(a_log())
    header = header_of(lines)
    assert header["format"] == EXPORT_FORMAT == "memvisor-events"
    assert header["version"] == EXPORT_VERSION == 2
    assert header["agent"] == "sam"
    assert header["events"] == 4
    assert header["exported_at"] == T0
    assert header["crc32"] == [zlib.crc32(line.rstrip(b"\n")) for line in lines[1:]]
    assert (header["parts"], header["prompts"]) == (0, 0)
    assert list(header)[:4] == ["format", "version", "agent", "events"]


def test_non_finite_floats_survive_as_javascript_literals() -> None:
    inf, nan = math.inf, math.nan
    log: list[Event] = [
        AgentCreated(agent="sam", seq=1, at=T0),
        TimerSet(agent="sam", seq=2, at=T0, timer_id="t", due=inf, every=-inf),
        ExternalEvent(agent="sam", seq=3, at=T0, source="s", payload={"x": [inf, -inf, 1.5]}),
        LLMResponded(agent="sam", seq=4, at=T0, model="m", latency=nan),
    ]
    lines = exported(log)
    assert b'"due":Infinity' in lines[2]
    assert b'"every":-Infinity' in lines[2]
    assert b"[Infinity,-Infinity,1.5]" in lines[3]
    assert b'"latency":NaN' in lines[4]
    parsed = parse_export(lines).events
    assert parsed[:3] == tuple(log[:3])
    response = parsed[3]
    assert isinstance(response, LLMResponded)
    assert math.isnan(response.latency)


def test_lines_may_come_without_breaks_with_crlf_and_with_blank_lines_at_the_end() -> None:
    lines = exported(a_log())
    assert parse_export([line.rstrip(b"\n") for line in lines]).events == tuple(a_log())
    assert parse_export([line[:-1] + b"\r\n" for line in lines]).events == tuple(a_log())
    assert parse_export([*lines, b"\n", b"  \n"]).events == tuple(a_log())


def test_a_file_without_checksums_is_validated_only() -> None:
    lines = with_header(exported(a_log()), crc32=None)
    assert "crc32" not in header_of(lines)
    edited = damage(lines, 3, lines[2].replace(b"Ol\xc3\xa1", b"Hi"))
    events = parse_export(edited).events
    assert isinstance(events[1], UserMessage)
    assert events[1].text == "Hi, 世界 🌍"


def test_export_refuses_what_is_not_one_whole_log() -> None:
    log = a_log()
    with pytest.raises(UsageError, match="at least one event"):
        list(export_lines([], exported_at=T0))
    with pytest.raises(UsageError, match="one agent's log"):
        list(
            export_lines([*log, UserMessage(agent="ann", seq=5, at=T0, text="x")], exported_at=T0)
        )
    with pytest.raises(UsageError, match="found seq 3 where 2 belongs"):
        list(export_lines([log[0], log[2]], exported_at=T0))


# --- renaming ---------------------------------------------------------------------------


@given(logs, st.text(min_size=1, max_size=10))
def test_rename_changes_the_agent_and_nothing_else(events: list[Event], name: str) -> None:
    renamed = rename(events, name)
    assert [e.agent for e in renamed] == [name] * len(events)
    assert [msgspec.structs.replace(e, agent="sam") for e in renamed] == events


def test_rename_keeps_the_names_of_other_agents() -> None:
    edit = CoreMemoryEdited(
        agent="sam", seq=2, at=T0, block="team", op="rewrite", value="v", origin="ann"
    )
    created = AgentCreated(agent="sam", seq=1, at=T0, forked_from="old@7")
    first, second = rename([created, edit], "bob")
    assert isinstance(first, AgentCreated)
    assert isinstance(second, CoreMemoryEdited)
    assert (first.agent, first.forked_from) == ("bob", "old@7")
    assert (second.agent, second.origin) == ("bob", "ann")


# --- damage: refused, at the right line ---------------------------------------------------


def test_an_empty_file_is_refused_at_line_1() -> None:
    assert "no header" in refused_at([], 1)
    assert "no header" in refused_at([b"\n"], 1)


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        (b"not json\n", "not a memvisor event export"),
        (b"[1, 2]\n", "not a memvisor event export"),
        (b'{"format": "other", "version": 1}\n', "not a memvisor event export"),
        (b'{"type": "agent_created", "agent": "sam", "seq": 1, "at": 0}\n', "not a memvisor"),
    ],
)
def test_a_file_without_the_header_is_refused_at_line_1(header: bytes, problem: str) -> None:
    assert problem in refused_at(damage(exported(a_log()), 1, header), 1)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        (
            {"version": 3},
            "format version 3 is not supported (this memvisor reads versions 1 and 2)",
        ),
        ({"version": None}, "format version None is not supported"),
        ({"agent": None}, "bad header: Object missing required field `agent`"),
        ({"events": "4"}, "bad header: Expected `int`, got `str` - at `$.events`"),
        ({"events": 0}, "bad header: an agent's log has at least one event, not 0"),
        ({"crc32": [1, 2]}, "bad header: 2 checksums for 4 lines"),
        ({"prompts": -1}, "bad header: negative counts of prompt lines"),
    ],
)
def test_a_bad_header_is_refused_at_line_1(changes: dict[str, object], problem: str) -> None:
    assert problem in refused_at(with_header(exported(a_log()), **changes), 1)


def _line(**fields: object) -> bytes:
    base: dict[str, object] = {"type": "user_message", "agent": "sam", "seq": 3, "at": T0}
    return json.dumps({**base, **fields}).encode() + b"\n"


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (b'{"type": "user_message", "agent": "sam", "seq": 3\n', "not JSON: "),
        (b"\xff\xfe garbage\n", "not JSON: "),
        (_line(), "not a valid event: Object missing required field `text`"),
        (_line(type="mood_swing", text="x"), "not a valid event: Invalid value 'mood_swing'"),
        (_line(text=5), "not a valid event: Expected `str`, got `int` - at `$.text`"),
        (_line(text="x", agent="ann"), "an event of agent 'ann' in the log of 'sam'"),
        (_line(text="x", seq=4), "seq 4 where 3 belongs"),
        (_line(text="x", seq=2), "seq 2 where 3 belongs"),
        (b'{"type":"user_message","agent":"sam","seq":3,"at":Infinity,"text":"x"}\n', "finite"),
        (b'{"type":"user_message","agent":"sam","seq":3,"at":1e400,"text":"x"}\n', "range"),
        (b'{"type":"user_message","agent":"sam","seq":3,"at":0,"text":"\\ud800"}\n', ""),
        (
            _line(type="external_event", source="s", payload=2**70),
            "an event the log cannot store",
        ),
    ],
)
def test_a_bad_event_line_is_refused_at_its_number(line: bytes, problem: str) -> None:
    lines = with_header(exported(a_log()), crc32=None)  # only validation can catch these
    assert problem in refused_at(damage(lines, 4, line), 4)


def test_a_changed_line_is_caught_by_its_checksum() -> None:
    lines = exported(a_log())
    edited = damage(lines, 3, lines[2].replace(b"Ol\xc3\xa1", b"Hi"))
    assert "checksum mismatch" in refused_at(edited, 3)


def test_a_missing_line_is_refused_where_the_gap_is() -> None:
    lines = exported(a_log())
    assert "seq 3 where 2 belongs" in refused_at(damage(lines, 3 - 1 + 1, None), 3)
    message = refused_at(lines[:-1], 5)
    assert "ends after 3 events but its header (line 1) promises 4" in message
    assert "promises 4" in refused_at(lines[:1], 2)


def test_an_extra_event_is_refused_at_its_line() -> None:
    lines = exported(a_log())
    extra = msgspec.json.encode(UserMessage(agent="sam", seq=5, at=T0, text="more")) + b"\n"
    assert "one line more than the header promises (4 events" in refused_at([*lines, extra], 6)


def test_a_log_that_does_not_begin_with_its_agent_is_refused() -> None:
    headless = as_log(a_log()[1:])
    lines = list(export_lines(headless, exported_at=T0))
    assert "begins with agent_created, not user_message" in refused_at(lines, 2)


def test_a_blank_line_inside_the_file_is_refused_at_its_number() -> None:
    lines = exported(a_log())
    assert "blank line" in refused_at([*lines[:3], b"\n", *lines[3:]], 4)


@given(logs, st.data())
def test_a_cut_line_is_refused_at_its_number(events: list[Event], data: st.DataObject) -> None:
    lines = exported(events)
    number = data.draw(st.integers(1, len(lines)), label="line")
    body = lines[number - 1].rstrip(b"\n")
    cut = data.draw(st.integers(0, len(body) - 1), label="kept bytes")
    refused_at(damage(lines, number, body[:cut] + b"\n"), number)


@given(logs, st.data())
def test_a_changed_byte_is_refused_at_its_line(events: list[Event], data: st.DataObject) -> None:
    lines = exported(events)
    number = data.draw(st.integers(2, len(lines)), label="line")
    body = bytearray(lines[number - 1].rstrip(b"\n"))
    at = data.draw(st.integers(0, len(body) - 1), label="byte")
    body[at] = data.draw(st.integers(0x20, 0x7E).filter(lambda b: b != body[at]), label="new")
    refused_at(damage(lines, number, bytes(body) + b"\n"), number)


# --- prompts carried along ----------------------------------------------------------------


def a_prompt(*texts: str) -> ExportedPrompt:
    parts = tuple(json.dumps({"role": "user", "content": t}).encode() for t in texts)
    return ExportedPrompt(
        prompt_hash=prompt_digest(parts), prompt=StoredPrompt(parts=parts, tools=b"[]")
    )


def with_prompts() -> list[bytes]:
    prompts = [a_prompt("system", "hi"), a_prompt("system", "hi", "more")]
    return list(export_lines(a_log(), exported_at=T0, prompts=prompts))


def test_prompts_travel_after_the_events_with_shared_parts_written_once() -> None:
    lines = with_prompts()
    header = header_of(lines)
    assert (header["events"], header["parts"], header["prompts"]) == (4, 4, 2)  # 3 + tools
    assert len(lines) == 1 + 4 + 4 + 2
    parsed = parse_export(lines)
    assert parsed.events == tuple(a_log())
    assert parsed.prompts == (a_prompt("system", "hi"), a_prompt("system", "hi", "more"))


@given(st.lists(st.lists(st.text(max_size=30), min_size=1, max_size=4), max_size=4))
def test_any_prompts_survive_an_export(texts: list[list[str]]) -> None:
    prompts = [a_prompt(*t) for t in texts]
    lines = list(export_lines(a_log(), exported_at=T0, prompts=prompts))
    assert parse_export(lines).prompts == tuple(prompts)


def test_a_version_1_file_is_still_read() -> None:
    lines = exported(a_log())
    old = {k: v for k, v in header_of(lines).items() if k not in ("parts", "prompts")}
    old["version"] = 1
    parsed = parse_export([json.dumps(old).encode(), *lines[1:]])
    assert parsed.events == tuple(a_log())
    assert parsed.prompts == ()


def test_a_damaged_prompt_is_refused_at_its_line() -> None:
    lines = with_prompts()
    prompt = json.loads(lines[-1])
    prompt["parts"] = prompt["parts"][:1]  # another prompt than the hash says
    edited = json.dumps(prompt).encode()
    unchecked = with_header(lines, crc32=None)
    assert "do not hash to it" in refused_at(damage(unchecked, 11, edited), 11)
    prompt["parts"] = ["0" * 32]
    assert "names part 000" in refused_at(damage(unchecked, 11, json.dumps(prompt).encode()), 11)
    assert "not a prompt part" in refused_at(damage(unchecked, 6, b'{"part": 1}'), 6)
    assert "defined twice" in refused_at(damage(unchecked, 7, lines[5]), 7)
    assert "checksum mismatch" in refused_at(damage(lines, 11, edited), 11)
    assert "promises 10" in refused_at(lines[:-1], 11)
