"""Lineage: a fork copies the start of a log under a new name; a diff finds where two part.

```
alice  1 ─ 2 ─ … ─ 31 ─ 32 ─ 33 ─ …
                    │  fork_events(alice's log, 31, "bob")
bob    1 ─ 2 ─ … ─ 31 ─ 32'─ …        seq 1 (agent_created) records forked_from="alice@31"
                          ▲
                          first_difference(alice's log, bob's log).seq == 32
```

Both are pure. A fork keeps every event as it was (times included) but its
``agent``, and the ``forked_from`` of its first event. Two logs are the same
where their events are equal once ``agent``, ``at`` and ``forked_from`` are set
aside: a fork and its original agree up to the fork point.
"""

import collections
from collections.abc import Sequence
from typing import Literal

import msgspec

from .._exceptions import UsageError
from ._codec import event_type
from ._portable import rename
from ._types import AgentCreated, Event

__all__ = ["Difference", "first_difference", "fork_events"]


def fork_events(events: Sequence[Event], at_seq: int, new_name: str) -> list[Event]:
    """The log of a new agent ``new_name`` that starts as ``events`` up to ``at_seq``.

    The fork may end in the middle of a turn (a ``tool_called`` without its
    ``tool_returned``, a response whose calls were not all made): the agent
    finishes that turn, recovering the call, before it handles its next message.

    Args:
        events: The original agent's log from seq 1, at least up to ``at_seq``.
        at_seq: The last event to copy.
        new_name: The new agent's name.

    Raises:
        UsageError: ``at_seq`` is not a seq of the log, or the log does not start
            with ``agent_created``.
    """
    if not events:
        raise UsageError("cannot fork an empty log")
    old = events[0].agent
    if not 1 <= at_seq <= len(events):
        raise UsageError(
            f"cannot fork {old!r} at seq {at_seq}: its log runs from seq 1 to {len(events)}"
        )
    first = events[0]
    if not isinstance(first, AgentCreated):
        raise UsageError(
            f"cannot fork {old!r}: its log starts with {event_type(first)}, not agent_created"
        )
    copies = rename(events[:at_seq], new_name)
    copies[0] = msgspec.structs.replace(first, agent=new_name, forked_from=f"{old}@{at_seq}")
    return copies


class Difference(msgspec.Struct, frozen=True, kw_only=True):
    """Where two logs part: the first seq whose events differ, and what follows."""

    seq: int
    """The first seq at which the logs differ."""
    a: Event | None
    """A's event at ``seq``; ``None`` when A's log ends before it."""
    b: Event | None
    """B's event at ``seq``; ``None`` when B's log ends before it."""
    fields: tuple[str, ...]
    """The fields that differ, when both events are of one type; ``("type",)`` when
    their types differ; ``()`` when one log has ended."""
    a_after: dict[str, int]
    """A's events from ``seq`` on, counted by type (most frequent first)."""
    b_after: dict[str, int]
    """B's events from ``seq`` on, counted by type (most frequent first)."""

    @property
    def summary(self) -> str:
        """What each log holds from ``seq`` on, e.g. ``"A: 12 events from seq 31 on
        (5 llm_responded, 4 tool_called, …); B: none (its log ends at seq 30)"``."""
        return f"A: {self.after('A')}; B: {self.after('B')}"

    def after(self, side: Literal["A", "B"]) -> str:
        """What one side holds from ``seq`` on, e.g. ``"3 events from seq 31 on
        (2 tool_called, 1 llm_responded)"``."""
        counts = self.a_after if side == "A" else self.b_after
        total = sum(counts.values())
        if not total:
            return f"none (its log ends at seq {self.seq - 1})"
        kinds = ", ".join(f"{n} {kind}" for kind, n in counts.items())
        return f"{total} event{'s' if total != 1 else ''} from seq {self.seq} on ({kinds})"


def first_difference(a: Sequence[Event], b: Sequence[Event]) -> Difference | None:
    """Where logs ``a`` and ``b`` (each from seq 1) first differ; ``None`` if they do not.

    Events are compared whole except for ``agent``, ``at`` and ``forked_from``.
    """
    common = min(len(a), len(b))
    for index in range(common):
        if not _same(_comparable(a[index]), _comparable(b[index])):
            return _difference(a, b, index, _differing_fields(a[index], b[index]))
    if len(a) == len(b):
        return None
    return _difference(a, b, common, ())


def _difference(
    a: Sequence[Event], b: Sequence[Event], index: int, fields: tuple[str, ...]
) -> Difference:
    return Difference(
        seq=index + 1,
        a=a[index] if index < len(a) else None,
        b=b[index] if index < len(b) else None,
        fields=fields,
        a_after=_counts(a[index:]),
        b_after=_counts(b[index:]),
    )


def _comparable(event: Event) -> Event:
    plain = msgspec.structs.replace(event, agent="", at=0.0)
    if isinstance(plain, AgentCreated):
        plain = msgspec.structs.replace(plain, forked_from=None)
    return plain


def _same(x: object, y: object) -> bool:
    # Equal bytes settle what == cannot: a NaN is the same NaN.
    return x == y or msgspec.msgpack.encode(x) == msgspec.msgpack.encode(y)


def _differing_fields(x: Event, y: Event) -> tuple[str, ...]:
    if type(x) is not type(y):
        return ("type",)
    cx, cy = _comparable(x), _comparable(y)
    return tuple(
        name for name in cx.__struct_fields__ if not _same(getattr(cx, name), getattr(cy, name))
    )


def _counts(events: Sequence[Event]) -> dict[str, int]:
    counts = collections.Counter(event_type(e) for e in events)
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
