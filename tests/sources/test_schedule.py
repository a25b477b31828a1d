"""Interval and cron schedules: examples, and properties against a reference matcher."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import msgspec
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from memvisor import ConfigError
from memvisor.sources import Cron, Every, Schedule, next_fire, parse_cron, parse_every

PARIS = ZoneInfo("Europe/Paris")


def at(  # noqa: PLR0917 (reads like datetime's own arguments)
    year: int,
    month: int,
    day: int,
    hour: int = 0,
    minute: int = 0,
    second: int = 0,
    *,
    tz: ZoneInfo | None = None,
) -> float:
    return datetime(year, month, day, hour, minute, second, tzinfo=tz or UTC).timestamp()


# --- intervals --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("45s", 45),
        ("30m", 1800),
        ("1h", 3600),
        ("2d", 172800),
        ("1w", 604800),
        ("1h30m", 5400),
        ("1d2h3m4s", 93784),
        (" 1h 30m ", 5400),
        ("1.5h", 5400),
        ("0.5s", 0.5),
    ],
)
def test_parse_every_reads_units_largest_first(text: str, seconds: float) -> None:
    assert parse_every(text) == seconds


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("90", "expected a number and a unit"),
        ("h", "expected a number and a unit"),
        ("1x", "unknown unit 'x'"),
        ("1M", "expected a number and a unit"),
        ("30m1h", "largest first"),
        ("1h1h", "at most once"),
        ("0s", "longer than zero"),
        ("0h0m", "longer than zero"),
        ("-1h", "expected a number and a unit"),
        ("1h and 2m", "expected a number and a unit"),
    ],
)
def test_parse_every_explains_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        parse_every(text)


@given(st.lists(st.integers(0, 1000), min_size=5, max_size=5).filter(any))
def test_parse_every_sums_its_parts(amounts: list[int]) -> None:
    units = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
    text = "".join(f"{n}{u}" for n, u in zip(amounts, units, strict=True) if n)
    assert parse_every(text) == sum(n * s for n, s in zip(amounts, units.values(), strict=True))


def test_every_fires_on_its_grid_and_strictly_after() -> None:
    hourly = Every(seconds=3600)
    assert hourly.next_fire(at(2024, 1, 1, 10, 20)) == at(2024, 1, 1, 11)
    assert hourly.next_fire(at(2024, 1, 1, 11)) == at(2024, 1, 1, 12)  # not again at 11:00
    anchored = Every(seconds=60, anchor=10.0)
    assert anchored.next_fire(0.0) == 10.0
    assert anchored.next_fire(10.0) == 70.0
    assert anchored.next_fire(-55.0) == -50.0


@given(
    seconds=st.floats(0.001, 1e7),
    anchor=st.floats(-1e10, 1e10),
    after=st.floats(-1e10, 1e10),
)
def test_every_next_fire_is_the_first_grid_point_after(
    seconds: float, anchor: float, after: float
) -> None:
    due = Every(seconds=seconds, anchor=anchor).next_fire(after)
    assert due > after
    steps = (due - anchor) / seconds
    assert math.isclose(steps, round(steps), abs_tol=1e-3)
    assert due - seconds <= after + abs(after) * 1e-9 + 1e-6


@pytest.mark.parametrize("seconds", [0.0, -1.0, math.inf, math.nan])
def test_every_refuses_a_useless_interval(seconds: float) -> None:
    with pytest.raises(ConfigError):
        Every(seconds=seconds)


# --- cron examples ----------------------------------------------------------------


def test_weekday_mornings_skip_the_weekend() -> None:
    friday_ten = at(2024, 6, 7, 10)
    assert parse_cron("0 9 * * MON-FRI").next_fire(friday_ten) == at(2024, 6, 10, 9)


@pytest.mark.parametrize(
    ("expr", "after", "due"),
    [
        ("*/15 * * * *", at(2024, 1, 1, 10, 7, 30), at(2024, 1, 1, 10, 15)),
        ("*/15 * * * *", at(2024, 1, 1, 10, 15), at(2024, 1, 1, 10, 30)),  # strictly after
        ("0 0 1 jan,Jul *", at(2024, 2, 1), at(2024, 7, 1)),
        ("0 12 * * 0", at(2024, 6, 3), at(2024, 6, 9, 12)),
        ("0 12 * * 7", at(2024, 6, 3), at(2024, 6, 9, 12)),
        ("0 12 * * sun", at(2024, 6, 3), at(2024, 6, 9, 12)),
        ("0 8-18/5 * * *", at(2024, 6, 3, 14), at(2024, 6, 3, 18)),
        ("5,35 * * * *", at(2024, 6, 3, 14, 6), at(2024, 6, 3, 14, 35)),
        # Both day fields restricted: either one fires (Vixie cron's OR).
        ("0 0 13 * FRI", at(2024, 6, 1), at(2024, 6, 7)),
        ("0 0 13 * FRI", at(2024, 6, 8), at(2024, 6, 13)),
        # A starred day field makes it AND again.
        ("0 0 */2 * FRI", at(2024, 6, 1), at(2024, 6, 7)),
        ("0 0 29 2 *", at(2023, 3, 1), at(2024, 2, 29)),
        ("@hourly", at(2024, 1, 1, 10, 20), at(2024, 1, 1, 11)),
        ("@daily", at(2024, 1, 1, 10, 20), at(2024, 1, 2)),
        ("@weekly", at(2024, 6, 3), at(2024, 6, 9)),
        ("0  9   *  * *", at(2024, 1, 1, 10), at(2024, 1, 2, 9)),  # any spacing
    ],
)
def test_cron_examples(expr: str, after: float, due: float) -> None:
    assert next_fire(after, parse_cron(expr)) == due


def test_cron_start_just_before_a_firing_is_not_rounded_past_it() -> None:
    assert parse_cron("* * * * *").next_fire(59.9999996) == 60.0
    assert Every(seconds=60).next_fire(59.9999996) == 60.0


def test_cron_reads_its_times_in_its_time_zone() -> None:
    nine_in_paris = parse_cron("0 9 * * *", tz="Europe/Paris")
    assert nine_in_paris.next_fire(at(2024, 7, 1)) == at(2024, 7, 1, 7)  # CEST, UTC+2
    assert nine_in_paris.next_fire(at(2024, 1, 1)) == at(2024, 1, 1, 8)  # CET, UTC+1


def test_cron_across_daylight_saving_changes_behaves_like_debian_cron() -> None:
    half_past_two = parse_cron("30 2 * * *", tz="Europe/Paris")
    # 2024-03-31 02:30 does not exist in Paris: it fires right after the jump.
    assert half_past_two.next_fire(at(2024, 3, 30, 12, tz=PARIS)) == at(2024, 3, 31, 1)
    # 2024-10-27 02:30 happens twice: it fires once.
    first = half_past_two.next_fire(at(2024, 10, 26, 12, tz=PARIS))
    assert first == at(2024, 10, 27, 0, 30)
    assert half_past_two.next_fire(first) == at(2024, 10, 28, 1, 30)


@pytest.mark.parametrize(
    ("expr", "says"),
    [
        ("0 9 * *", "5 fields"),
        ("0 0 9 * * *", "5 fields"),  # six fields: seconds first or last? refused
        ("", "5 fields"),
        ("61 * * * *", "minute"),
        ("* 24 * * *", "hour"),
        ("* * 0 * *", "day-of-month"),
        ("* * * 13 *", "month"),
        ("* * * * 8", "day-of-week"),
        ("* * * FOO *", "month"),
        ("5-1 * * * *", "minute"),
        ("*/0 * * * *", "minute"),
        ("0 0 30 2 *", "day-of-month"),
        ("@fortnightly", "5 fields"),
    ],
)
def test_cron_explains_a_bad_expression(expr: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        parse_cron(expr)


@pytest.mark.parametrize("tz", ["Mars/Olympus", "Europe", "../etc/passwd", ""])
def test_cron_refuses_an_unknown_time_zone(tz: str) -> None:
    with pytest.raises(ConfigError, match="time zone"):
        parse_cron("0 9 * * *", tz=tz)


@given(st.text(alphabet="0123456789*/-,# LWMONJA ", max_size=30))
def test_any_text_is_a_schedule_or_a_config_error(expr: str) -> None:
    try:
        cron = parse_cron(expr)
    except ConfigError:
        return
    due = cron.next_fire(at(2024, 1, 1))
    assert due > at(2024, 1, 1)


def test_schedules_round_trip_through_msgspec_and_are_checked_when_decoded() -> None:
    schedules: list[Schedule] = [Every(seconds=90.0, anchor=5.0), Cron(expr="0 9 * * *")]
    for schedule in schedules:
        encoded = msgspec.json.encode(schedule)
        assert msgspec.json.decode(encoded, type=Schedule) == schedule
    with pytest.raises(ConfigError):
        msgspec.json.decode(b'{"type": "every", "seconds": -1}', type=Schedule)
    with pytest.raises(ConfigError):
        msgspec.json.decode(b'{"type": "cron", "expr": "every day"}', type=Schedule)


# --- cron properties against an independent reference -----------------------------


@dataclass(frozen=True)
class Field:
    text: str
    values: frozenset[int]


MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]


@st.composite
def fields(draw: st.DrawFn, low: int, high: int, names: list[str] | None = None) -> Field:
    """One cron field: its text and the values it stands for (computed here, not parsed)."""

    def show(n: int) -> str:
        if names and n - low < len(names) and draw(st.booleans()):
            name = names[n - low]
            return draw(st.sampled_from([name, name.lower(), name.title()]))
        return str(n)

    def term() -> Field:
        kind = draw(st.sampled_from(["one", "range", "range/step"]))
        a = draw(st.integers(low, high))
        if kind == "one":
            return Field(show(a), frozenset({a}))
        b = draw(st.integers(a, high))
        if kind == "range":
            return Field(f"{show(a)}-{show(b)}", frozenset(range(a, b + 1)))
        # cronsim reads a stepped range of one value, "5-5/2", as "5/2" (5 up to the
        # field's maximum): leave that corner out.
        assume(a < b)
        step = draw(st.integers(1, high - low + 1))
        return Field(f"{show(a)}-{show(b)}/{step}", frozenset(range(a, b + 1, step)))

    shape = draw(st.sampled_from(["*", "*/n", "list"]))
    if shape == "*":
        return Field("*", frozenset(range(low, high + 1)))
    if shape == "*/n":
        step = draw(st.integers(1, high - low + 1))
        return Field(f"*/{step}", frozenset(range(low, high + 1, step)))
    terms = [term() for _ in range(draw(st.integers(1, 3)))]
    return Field(",".join(t.text for t in terms), frozenset().union(*(t.values for t in terms)))


@dataclass(frozen=True)
class Expression:
    minute: Field
    hour: Field
    dom: Field
    month: Field
    dow: Field

    @property
    def text(self) -> str:
        return " ".join(f.text for f in (self.minute, self.hour, self.dom, self.month, self.dow))

    def day_matches(self, day: date) -> bool:
        cron_dow = (day.weekday() + 1) % 7  # cron: 0 (and 7) is Sunday
        dow_ok = cron_dow in self.dow.values or (cron_dow == 0 and 7 in self.dow.values)
        dom_ok = day.day in self.dom.values
        if self.dom.text.startswith("*") or self.dow.text.startswith("*"):
            return dom_ok and dow_ok
        return dom_ok or dow_ok

    def next_after(self, after: float, tz: ZoneInfo) -> float | None:
        """The first matching minute after ``after``, by scanning days (fixed-offset zones)."""
        day = datetime.fromtimestamp(after, tz).date()
        for _ in range(60 * 366):
            if day.month in self.month.values and self.day_matches(day):
                for hour in sorted(self.hour.values):
                    for minute in sorted(self.minute.values):
                        t = datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)
                        if t.timestamp() > after:
                            return t.timestamp()
            day += timedelta(days=1)
        return None


expressions = st.builds(
    Expression,
    minute=fields(0, 59),
    hour=fields(0, 23),
    dom=fields(1, 31),
    month=fields(1, 12, MONTHS),
    dow=fields(0, 7, DAYS),
)
# Zones without daylight saving (at least since 1990), with whole and half-hour offsets.
fixed_zones = st.sampled_from(["UTC", "Asia/Tokyo", "Asia/Kolkata", "America/Bogota"])
moments = st.floats(at(1990, 1, 1), at(2060, 1, 1))


@settings(max_examples=300, deadline=None)
@given(expressions, fixed_zones, moments)
def test_cron_next_fire_is_the_first_matching_minute_after(
    expression: Expression, tz: str, after: float
) -> None:
    try:
        cron = parse_cron(expression.text, tz=tz)
    except ConfigError:
        # Only a day that no month of the expression has, as "31 4,6": cron refuses it.
        assume(False)
    expected = expression.next_after(after, ZoneInfo(tz))
    due = cron.next_fire(after)
    if expected is None:
        assert due == math.inf
        return
    assert due > after
    # It is a matching minute, and no matching minute lies between `after` and it.
    assert due == expected
    moment = datetime.fromtimestamp(due, ZoneInfo(tz))
    assert moment.second == 0
    assert moment.minute in expression.minute.values
    assert moment.hour in expression.hour.values
    assert moment.month in expression.month.values
    assert expression.day_matches(moment.date())
