"""The portable event-log file: one agent's whole log as JSON lines.

```
line 1      {"format":"memvisor-events","version":2,"agent":"sam","events":3,
             "parts":0,"prompts":0,"exported_at":1735689600.0,
             "crc32":[…one per line after the header…]}
line 2      {"type":"agent_created","agent":"sam","seq":1,"at":…,…}      seq 1
line 3      {"type":"user_message","agent":"sam","seq":2,"at":…,…}       seq 2
line 4      …                                                            seq 3
then        the prompts the agent sent, if exported with them: "parts" part
            lines, then "prompts" prompt lines (see ``_portable_prompts``)
```

Each event line is the event's tagged-union JSON, byte for byte what
``memvisor log NAME --json`` prints, so the tools that read one read the other.
Version 1 files (events only, no ``parts`` or ``prompts``) are still read.

Invariants of a file :func:`parse_export` accepts (it checks all of them, and
any failure is an :class:`EventDecodeError` whose message starts with
``line N:``, the first line at fault):

* line 1 is a header of this format and a version this module reads;
* every other line is one valid event of the header's agent, ``seq`` 1, 2, 3 …,
  the first an ``agent_created``
  without gaps, exactly as many as the header promises, each one the log can
  store (finite ``at``, integers that fit, valid UTF-8 text);
* the prompt lines after them, if any, are as many as the header says and valid
  (every prompt's parts hash to it);
* if the header lists checksums (:func:`export_lines` always writes them), each
  line still has its CRC-32: damage inside a text, which would still parse
  as a different event, is as loud as damage to the structure. A file written by
  hand or by another program may leave ``crc32`` out; its lines are then only
  validated.

JSON has no infinity or NaN. The log can hold them (a cron timer with no next
firing is due at infinity), so a line with such a float writes it the way
JavaScript and Python do, ``Infinity``, ``-Infinity`` or ``NaN``, rather than
as the ``null`` that would change the event; every other line is strict JSON.
"""

import json
import math
import zlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Final, Literal

import msgspec

from .._exceptions import EventDecodeError, UsageError
from ._codec import encode_event, event_type
from ._portable_prompts import ExportedPrompt, PromptLines, prompt_export_lines
from ._types import AgentCreated, Event

__all__ = [
    "EXPORT_FORMAT",
    "EXPORT_VERSION",
    "ExportHeader",
    "ExportedLog",
    "ExportedPrompt",
    "export_lines",
    "parse_export",
    "rename",
]

EXPORT_FORMAT: Final = "memvisor-events"
"""The ``format`` named in the header of every export."""
EXPORT_VERSION: Final = 2
"""The version of the format this module writes (it reads 1 and 2)."""
_READABLE = (1, 2)


class ExportHeader(msgspec.Struct, frozen=True, kw_only=True):
    """Line 1 of an export: what the file holds."""

    format: Literal["memvisor-events"]
    version: int
    agent: str
    """The agent whose log the file holds (every event's ``agent``)."""
    events: int
    """How many event lines follow."""
    parts: int = 0
    """How many prompt part lines follow the events."""
    prompts: int = 0
    """How many prompt lines follow the parts."""
    exported_at: float
    """When the file was written, in seconds since the epoch."""
    crc32: tuple[int, ...] | None = None
    """CRC-32 of each line after the header (without its line break), in order;
    ``None`` in a file written without them."""


class ExportedLog(msgspec.Struct, frozen=True, kw_only=True):
    """A parsed export: its header, its events (``seq`` 1 to ``header.events``) and
    the prompts it carries."""

    header: ExportHeader
    events: tuple[Event, ...]
    prompts: tuple[ExportedPrompt, ...] = ()


_encoder = msgspec.json.Encoder()
_event_decoder = msgspec.json.Decoder(Event)
_any_decoder = msgspec.json.Decoder()


# --- writing ---------------------------------------------------------------------------


def export_lines(
    events: Sequence[Event], *, exported_at: float, prompts: Sequence[ExportedPrompt] = ()
) -> Iterator[bytes]:
    """The lines of an export of ``events``, each ending with ``\\n``, the header first.

    Args:
        events: One agent's whole log: ``seq`` 1, 2, 3 … in order.
        exported_at: The time to record in the header.
        prompts: Prompts the agent sent, to carry along (for ``replay --check``).

    Raises:
        UsageError: ``events`` is empty, mixes agents, or is not a whole log.
    """
    _check_whole_log(events)
    parts, prompt_body = prompt_export_lines(prompts)
    body = [_event_line(event) for event in events] + parts + prompt_body
    header = ExportHeader(
        format=EXPORT_FORMAT,
        version=EXPORT_VERSION,
        agent=events[0].agent,
        events=len(events),
        parts=len(parts),
        prompts=len(prompt_body),
        exported_at=exported_at,
        crc32=tuple(zlib.crc32(line) for line in body),
    )
    yield _encoder.encode(header) + b"\n"
    for line in body:
        yield line + b"\n"


def _check_whole_log(events: Sequence[Event]) -> None:
    if not events:
        raise UsageError("nothing to export: an agent's log has at least one event")
    agent = events[0].agent
    for index, event in enumerate(events, start=1):
        if event.agent != agent:
            raise UsageError(
                f"one export holds one agent's log, got {agent!r} and {event.agent!r}"
            )
        if event.seq != index:
            raise UsageError(
                f"an export holds a whole log, seq 1 to {len(events)}: found seq {event.seq}"
                f" where {index} belongs",
                actor_id=agent,
            )


def _event_line(event: Event) -> bytes:
    """The event's JSON, as ``log --json`` prints it unless a float is not finite."""
    line = _encoder.encode(event)
    # msgspec writes a non-finite float as null, so a line without null has none.
    if b"null" in line:
        builtins = msgspec.to_builtins(event)
        if not _all_finite(builtins):
            text = json.dumps(builtins, ensure_ascii=False, separators=(",", ":"))
            return text.encode()
    return line


def _all_finite(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_all_finite(item) for item in value.values())
    if isinstance(value, list):
        return all(_all_finite(item) for item in value)
    return True


# --- reading ---------------------------------------------------------------------------


def parse_export(lines: Iterable[bytes]) -> ExportedLog:
    """Read and check a whole export (see the module's invariants).

    Args:
        lines: The file's lines, with or without their line breaks (iterating a
            file opened in binary mode gives them). Blank lines at the end are
            ignored.

    Raises:
        EventDecodeError: the file is not a valid export; the message starts with
            ``line N:`` and says what is wrong there.
    """
    numbered = enumerate(lines, start=1)
    header = _parse_header(next(numbered, (1, b"")))
    events: list[Event] = []
    prompts = PromptLines()
    lines_read = 0
    blank: int | None = None  # the first of a run of blank lines
    for number, raw in numbered:
        line = raw.rstrip(b"\r\n")
        if not line.strip():
            blank = number if blank is None else blank
            continue
        if blank is not None:
            raise _at(blank, "blank line in the middle of the file")
        lines_read += 1
        if lines_read <= header.events:
            events.append(_parse_event(number, line, header, len(events) + 1))
            continue
        _parse_prompt_line(number, line, header, lines_read, prompts)
    promised = header.events + header.parts + header.prompts
    if lines_read < header.events:
        raise _at(
            lines_read + 2,
            f"the file ends after {lines_read} events but its header (line 1) promises"
            f" {header.events} (truncated file?)",
        )
    if lines_read < promised:
        raise _at(
            lines_read + 2,
            f"the file ends after {lines_read} lines but its header (line 1) promises"
            f" {promised} (truncated file?)",
        )
    return ExportedLog(header=header, events=tuple(events), prompts=tuple(prompts.prompts))


def _parse_prompt_line(
    number: int, line: bytes, header: ExportHeader, index: int, prompts: PromptLines
) -> None:
    """Line ``number``, the ``index``-th after the header, past the events: a part or a
    prompt line."""
    if index > header.events + header.parts + header.prompts:
        raise _at(
            number,
            f"one line more than the header promises ({header.events} events,"
            f" {header.parts} prompt parts, {header.prompts} prompts)",
        )
    _check_crc(number, line, header, index)
    try:
        if index <= header.events + header.parts:
            prompts.add_part(line)
        else:
            prompts.add_prompt(line)
    except ValueError as exc:
        raise _at(number, str(exc)) from None


def _check_crc(number: int, line: bytes, header: ExportHeader, index: int) -> None:
    if header.crc32 is not None and zlib.crc32(line) != header.crc32[index - 1]:
        raise _at(
            number,
            "checksum mismatch: the line was changed or damaged after it was exported",
        )


def _at(number: int, problem: str) -> EventDecodeError:
    return EventDecodeError(f"line {number}: {problem}")


def _parse_header(numbered: tuple[int, bytes]) -> ExportHeader:
    number, raw = numbered
    if not raw.strip():
        raise _at(number, "no header (an empty file?): an export starts with a header line")
    try:
        value = _any_decoder.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        value = None
    if not isinstance(value, dict) or value.get("format") != EXPORT_FORMAT:
        raise _at(
            number,
            f'not a memvisor event export: the first line must be a header with "format":'
            f' "{EXPORT_FORMAT}"',
        )
    if value.get("version") not in _READABLE:
        raise _at(
            number,
            f"format version {value.get('version')!r} is not supported"
            f" (this memvisor reads versions {' and '.join(map(str, _READABLE))})",
        )
    try:
        header = msgspec.convert(value, ExportHeader)
    except msgspec.ValidationError as exc:
        raise _at(number, f"bad header: {exc}") from None
    if header.events < 1:
        raise _at(
            number, f"bad header: an agent's log has at least one event, not {header.events}"
        )
    if header.parts < 0 or header.prompts < 0:
        raise _at(number, "bad header: negative counts of prompt lines")
    lines = header.events + header.parts + header.prompts
    if header.crc32 is not None and len(header.crc32) != lines:
        raise _at(
            number,
            f"bad header: {len(header.crc32)} checksums for {lines} lines",
        )
    return header


def _parse_event(number: int, line: bytes, header: ExportHeader, seq: int) -> Event:
    """The event on line ``number``, which should be event ``seq`` of ``header.agent``."""
    event = _decode_line(number, line)
    if seq == 1 and not isinstance(event, AgentCreated):
        raise _at(number, f"an agent's log begins with agent_created, not {event_type(event)}")
    if event.agent != header.agent:
        raise _at(
            number,
            f"an event of agent {event.agent!r} in the log of {header.agent!r}",
        )
    if event.seq != seq:
        raise _at(
            number,
            f"seq {event.seq} where {seq} belongs (a log runs 1, 2, 3 … without gaps)",
        )
    if not math.isfinite(event.at):
        raise _at(number, f"event time must be a finite number, got {event.at!r}")
    _check_crc(number, line, header, seq)
    try:
        encode_event(event)
    except (msgspec.EncodeError, OverflowError, UnicodeEncodeError) as exc:
        raise _at(number, f"an event the log cannot store: {exc}") from None
    return event


def _decode_line(number: int, line: bytes) -> Event:
    try:
        event: Event = _event_decoder.decode(line)
    except msgspec.ValidationError as exc:
        raise _at(number, f"not a valid event: {exc}") from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        problem = f"not JSON: {exc}"
    except RecursionError:
        raise _at(number, "not a valid event: nested too deeply") from None
    else:
        return event
    # Not strict JSON: perhaps Infinity, -Infinity or NaN (see the module docstring).
    try:
        value = json.loads(line.decode(), parse_float=_finite_float)
    except (ValueError, RecursionError):
        raise _at(number, problem) from None
    try:
        converted: Event = msgspec.convert(value, Event)
    except msgspec.ValidationError as exc:
        raise _at(number, f"not a valid event: {exc}") from None
    return converted


def _finite_float(text: str) -> float:
    """A JSON number as a float; an overflow (``1e999``) is refused, not made infinite."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number out of range: {text}")
    return value


# --- renaming --------------------------------------------------------------------------


def rename(events: Iterable[Event], new_name: str) -> list[Event]:
    """``events`` as the log of agent ``new_name``: only ``agent`` changes.

    Fields that name other agents keep their values: a shared block edit's
    ``origin``, a message's ``sender`` or ``to``, ``forked_from``.
    """
    return [msgspec.structs.replace(event, agent=new_name) for event in events]
