"""Schedules for timers: fixed intervals and cron expressions. Pure: no clock, no I/O.

```
"1h30m" ── parse_every ──► 5400.0 ──► Every(seconds=5400.0) ──┐
                                                               ├─ next_fire(after)
"0 9 * * MON-FRI" ── parse_cron ──► Cron(expr=…, tz="UTC") ───┘   = the first firing > after
```
(all times in seconds since the epoch)

Invariants:

* ``next_fire(after) > after``, always (strictly: a timer that just fired at ``t``
  asks for ``next_fire(t)`` and never gets ``t`` again).
* Time is whatever clock the caller reads, as seconds since the epoch: the runtime's
  clock, so schedules run in virtual time too. Nothing here reads the wall clock.
* A schedule is data (a frozen Struct, tagged for encoding), checked when it is
  made and when it is decoded: an invalid one never exists.

Cron expressions are evaluated by `cronsim <https://github.com/cuu508/cronsim>`_,
which follows Debian's cron: five fields (minute, hour, day of month, month, day
of week), ``*``, ranges ``1-5``, lists ``1,3``, steps ``*/15`` and ``8-18/2``,
names ``JAN``-``DEC`` and ``SUN``-``SAT`` (any case; ``0`` and ``7`` are Sunday),
and when both the day of month and the day of week are restricted (neither starts
with ``*``) a day matching *either* fires, as in every Vixie cron. cronsim's
extensions (``L``, ``LW``, ``MON#2``, ``5L``) are accepted too; its six-field
form (seconds first) is refused, because other crons put seconds last and the
two would be silently confused. Across a daylight-saving change in ``tz``, jobs at
a fixed time behave as in Debian cron: a skipped time fires right after the jump,
a repeated one fires once.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from cronsim import CronSim, CronSimError

from .._exceptions import ConfigError

__all__ = ["Cron", "Every", "Schedule", "next_fire", "parse_cron", "parse_every"]

_UNITS = {"w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_PART = re.compile(r"\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-z]+)")
_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def parse_every(text: str) -> float:
    """The length of an interval such as ``"45s"``, ``"30m"``, ``"1h30m"`` or ``"2d"``, in seconds.

    Units: ``w`` (weeks), ``d``, ``h``, ``m`` (minutes), ``s``; each at most once, largest
    first; numbers may have decimals (``"1.5h"``); spaces between parts are allowed.

    Raises:
        ConfigError: the text is not such an interval, or it is zero.
    """
    rest = text.strip()
    if not rest:
        raise ConfigError("an interval is empty: write e.g. '30s', '15m', '1h30m' or '2d'")
    total = 0.0
    order = list(_UNITS)
    last = -1
    position = 0
    while position < len(rest):
        found = _PART.match(rest, position)
        if found is None:
            raise ConfigError(
                f"bad interval {text!r} at {rest[position:]!r}: expected a number and a unit "
                "(w, d, h, m, s), e.g. '30s', '15m', '1h30m', '2d'"
            )
        number, unit = found.groups()
        if unit not in _UNITS:
            raise ConfigError(
                f"bad interval {text!r}: unknown unit {unit!r} (use w, d, h, m or s; "
                "'m' is minutes)"
            )
        rank = order.index(unit)
        if rank <= last:
            raise ConfigError(
                f"bad interval {text!r}: each unit at most once, largest first (e.g. '1h30m')"
            )
        last = rank
        total += float(number) * _UNITS[unit]
        position = found.end()
    if total <= 0:
        raise ConfigError(f"bad interval {text!r}: it must be longer than zero")
    return total


class Every(msgspec.Struct, frozen=True, kw_only=True, tag="every"):
    """Fires every ``seconds``, on the grid ``anchor + k * seconds`` (all integers ``k``).

    With the default anchor (the epoch) ``"1h"`` fires on the hour and ``"1d"`` at
    midnight UTC, whenever the process started: a restart neither shifts nor
    repeats a firing. Anchor it at the last firing for a cadence relative to that.
    """

    seconds: float
    """The interval; finite and above zero (:func:`parse_every` reads ``"1h30m"``)."""
    anchor: float = 0.0
    """A moment on the grid, in seconds since the epoch."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.seconds) and self.seconds > 0):
            raise ConfigError(f"an interval must be finite and above zero, not {self.seconds!r}")
        if not math.isfinite(self.anchor):
            raise ConfigError(f"an interval's anchor must be finite, not {self.anchor!r}")

    def next_fire(self, after: float) -> float:
        """The first moment on the grid strictly after ``after``."""
        k = math.floor((after - self.anchor) / self.seconds) + 1
        due = self.anchor + k * self.seconds
        # Float rounding can land on (or just before) ``after``: step on until past it.
        while due <= after:
            k += 1
            due = self.anchor + k * self.seconds
        return due


class Cron(msgspec.Struct, frozen=True, kw_only=True, tag="cron"):
    """Fires at the minutes a five-field cron expression names, read in time zone ``tz``."""

    expr: str
    """E.g. ``"0 9 * * MON-FRI"``, ``"*/15 * * * *"`` or a macro such as ``"@daily"``."""
    tz: str = "UTC"
    """An IANA time zone name (``"Europe/Paris"``) the expression's times are in."""

    def __post_init__(self) -> None:
        _cron_fields(self.expr)
        _zone(self.tz)

    def next_fire(self, after: float) -> float:
        """The first matching minute strictly after ``after``; ``math.inf`` if there is none
        within 50 years (possible only with the ``L``/``#`` extensions)."""
        # Cron times are whole seconds: start from the second at or before ``after``
        # (cronsim steps one second on before it searches, so the answer is > after).
        # Flooring first avoids datetime's rounding to the nearest microsecond, which
        # could round ``after`` up past a firing.
        start = datetime.fromtimestamp(math.floor(after), _zone(self.tz))
        try:
            return next(CronSim(_cron_fields(self.expr), start)).timestamp()
        except StopIteration:
            return math.inf


Schedule = Every | Cron
"""A timer's schedule: ``Every`` or ``Cron``; both have ``next_fire(after)``."""


def parse_cron(expr: str, *, tz: str = "UTC") -> Cron:
    """A :class:`Cron` schedule, checked.

    Raises:
        ConfigError: the expression or the time zone is not valid.
    """
    return Cron(expr=expr, tz=tz)


def next_fire(after: float, schedule: Schedule) -> float:
    """When ``schedule`` fires next, strictly after ``after`` (seconds since the epoch)."""
    return schedule.next_fire(after)


@lru_cache(maxsize=256)
def _cron_fields(expr: str) -> str:
    """The expression as cronsim reads it (macros expanded), after checking it."""
    text = " ".join(expr.split())
    text = _MACROS.get(text.lower(), text)
    fields = text.split(" ")
    if len(fields) != 5:
        raise ConfigError(
            f"bad cron expression {expr!r}: it needs 5 fields (minute hour day-of-month "
            f"month day-of-week), not {len(fields) if text else 0}, e.g. '0 9 * * MON-FRI'"
        )
    try:
        CronSim(text, datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError as error:
        raise ConfigError(f"bad cron expression {expr!r}: {error}") from None
    return text


@lru_cache(maxsize=64)
def _zone(name: str) -> timezone | ZoneInfo:
    if name.upper() == "UTC":
        # cronsim takes the plain-arithmetic path only for datetime's own UTC.
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory
        raise ConfigError(
            f"unknown time zone {name!r}: use an IANA name such as 'Europe/Paris' or 'UTC'"
        ) from None
