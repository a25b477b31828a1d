"""``render_report``: what the page embeds, how it escapes the log, and how it stays
small on long logs. (The page as a browser draws it: ``tests/test_cli_report.py``.)"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import msgspec
import pytest

from memvisor import UsageError
from memvisor.agent import TurnConfig
from memvisor.events import (
    EVENT_TYPES,
    AgentCreated,
    BlockSpec,
    ContextCompacted,
    CoreMemoryEdited,
    Event,
    LLMResponded,
    MemoryPressure,
    TokenUsage,
    UserMessage,
    event_type,
)
from memvisor.memory import CompactionConfig, compile_context, fold_all
from memvisor.replay import ReportData, render_report, report_data
from memvisor.replay import _report as report_module

from .report_logs import AT, XSS, demo_events, every_event_log

_DATA = re.compile(r'<script type="application/json" id="report-data">(.*?)</script>', re.DOTALL)


def embedded(page: str) -> ReportData:
    """The data the page carries, decoded as the page's script reads it."""
    (text,) = _DATA.findall(page)
    return msgspec.json.decode(text, type=ReportData)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> list[Event]:
    return demo_events(tmp_path_factory.mktemp("home"))


def test_every_event_type_has_a_category() -> None:
    assert set(report_module.CATEGORIES) == EVENT_TYPES


def test_the_page_embeds_exactly_the_report_data(demo: list[Event]) -> None:
    page = render_report("demo", demo)
    assert page.startswith("<!DOCTYPE html>")
    assert embedded(page) == report_data("demo", demo)
    assert "<title>demo · memvisor report</title>" in page


def test_the_demo_report_has_its_steps_compaction_and_memory(demo: list[Event]) -> None:
    data = report_data("demo", demo, compaction=TurnConfig().compaction)
    responses = [e for e in demo if isinstance(e, LLMResponded)]
    assert [p.seq for p in data.points] == [e.seq for e in responses]
    assert [p.reported for p in data.points] == [e.usage.prompt_tokens for e in responses]
    # The estimate is that of the prompt each call was given: the state just before it.
    first = responses[0]
    before = fold_all(demo[: first.seq - 1])
    estimate = compile_context(before, archival_count=before.archival_count).estimated_tokens
    assert data.points[0].estimated == estimate
    assert all(p.estimated is not None for p in data.points)

    (compaction,) = [e for e in demo if isinstance(e, ContextCompacted)]
    (mark,) = data.compactions
    assert (mark.seq, mark.through_seq, mark.evicted) == (
        compaction.seq,
        compaction.through_seq,
        compaction.evicted,
    )
    assert (mark.tokens_before, mark.tokens_after) == (
        compaction.tokens_before,
        compaction.tokens_after,
    )
    assert [p.seq for p in data.pressures] == [
        e.seq for e in demo if isinstance(e, MemoryPressure)
    ]

    config = CompactionConfig()
    assert (data.warning_fraction, data.flush_fraction) == (
        config.warning_fraction,
        config.flush_fraction,
    )
    assert data.context_window == fold_all(demo).context_window
    assert data.events == tuple(demo)
    inputs = sum(isinstance(e, UserMessage) for e in demo)
    assert len(data.turns) == inputs + 1  # the setup, then one turn per user message
    assert [(p.first_seq, p.last_seq) for p in data.pages] == [(1, len(demo))]


def test_memory_is_embedded_only_where_a_block_changes(demo: list[Event]) -> None:
    data = report_data("demo", demo)
    created = [(c.seq, c.label) for c in data.memory if c.seq == 1]
    assert created == [(1, "persona"), (1, "human")]
    edits = [e for e in demo if isinstance(e, CoreMemoryEdited)]
    later = [c for c in data.memory if c.seq > 1]
    assert [(c.seq, c.label) for c in later] == [(e.seq, e.block) for e in edits]
    assert all(
        c.block is not None and c.block.value == e.value for c, e in zip(later, edits, strict=True)
    )


def test_a_second_setup_records_removed_and_changed_blocks_only() -> None:
    persona = BlockSpec(label="persona", value="I am Ada.")
    events: list[Event] = [
        AgentCreated(agent="ada", at=AT, seq=1, blocks=(persona, BlockSpec(label="human"))),
        CoreMemoryEdited(agent="ada", at=AT, seq=2, block="human", op="rewrite", value="Priya"),
        CoreMemoryEdited(agent="ada", at=AT, seq=3, block="notes", op="create", value="todo"),
        AgentCreated(
            agent="ada", at=AT, seq=4, blocks=(persona, BlockSpec(label="human", value="Priya"))
        ),
    ]
    changes = [
        (c.seq, c.label, c.block and c.block.value) for c in report_data("ada", events).memory
    ]
    assert changes == [
        (1, "persona", "I am Ada."),
        (1, "human", ""),
        (2, "human", "Priya"),
        (3, "notes", "todo"),
        (4, "notes", None),  # the second setup has no such block: it is gone
    ]


def test_a_log_with_every_event_type_is_reported() -> None:
    events = every_event_log()
    assert {event_type(e) for e in events} == EVENT_TYPES
    data = report_data("ada", events)
    assert [(t.first_seq, t.last_seq) for t in data.turns] == [
        (1, 2),  # setup
        (3, 13),  # the user message, two steps, pressure, compaction
        (14, 18),  # the webhook
        (19, 24),  # the timer
        (25, 31),  # the other agent's message
    ]
    by_seq = {p.seq: p for p in data.points}
    assert by_seq[4].reported == 900
    assert by_seq[8].reported is None  # no usage reported: the estimate stands in
    assert by_seq[8].estimated is not None
    assert [p.seq for p in data.pressures] == [12]
    assert [c.seq for c in data.compactions] == [13]


def test_log_text_cannot_break_out_of_the_data_element() -> None:
    events = every_event_log(user_text=XSS)
    page = render_report("ada", events)
    assert "<img" not in page
    assert "<!--" not in page
    # The data element and the script are the only two elements closed by </script>.
    assert page.count("</script>") == 2
    (message,) = [e for e in embedded(page).events if isinstance(e, UserMessage)]
    assert message.text == XSS


def test_the_title_is_escaped() -> None:
    page = render_report('<b>"x"</b>', every_event_log())
    assert "<title>&lt;b&gt;&quot;x&quot;&lt;/b&gt; · memvisor report</title>" in page


def test_the_page_loads_nothing_from_anywhere() -> None:
    page = render_report("ada", every_event_log())
    assert "Content-Security-Policy" in page
    assert "default-src 'none'" in page
    for pattern in (r"\bsrc=", r"<link\b", r"@import", r"@font-face"):
        assert not re.search(pattern, page), pattern
    # The only URLs: the SVG namespace; the only url(): the chart's own clip path.
    assert set(re.findall(r"https?://[^\s\"')]+", page)) == {"http://www.w3.org/2000/svg"}
    assert set(re.findall(r"url\([^)]*\)", page)) == {"url(#plot-clip)"}


def test_the_template_cannot_close_its_own_elements() -> None:
    folder = Path(report_module.__file__).parent / "_report_template"
    for name in ("style.css", "app.js"):
        assert "</" not in (folder / name).read_text(encoding="utf-8"), name


def test_pages_hold_whole_turns_within_the_bounds() -> None:
    events: list[Event] = [AgentCreated(agent="ada", at=AT, seq=1)]
    for turn in range(45):  # 44 turns of 5 events, then one of 700
        events.append(UserMessage(agent="ada", at=AT, seq=len(events) + 1, text="hi"))
        for _ in range(699 if turn == 44 else 4):
            seq = len(events) + 1
            events.append(
                MemoryPressure(agent="ada", at=AT, seq=seq, prompt_tokens=1, context_window=8)
            )
    data = report_data("ada", events)
    pages = data.pages
    assert pages[0].first_seq == 1
    assert pages[-1].last_seq == len(events)
    for page, following in itertools.pairwise(pages):
        assert following.first_seq == page.last_seq + 1
    for page in pages:
        assert page.last_seq - page.first_seq + 1 <= report_module.PAGE_EVENTS
        assert page.last_turn - page.first_turn + 1 <= report_module.PAGE_TURNS
        first, last = data.turns[page.first_turn], data.turns[page.last_turn]
        if page.first_turn != page.last_turn:  # whole turns
            assert (page.first_seq, page.last_seq) == (first.first_seq, last.last_seq)
    long_turn = len(data.turns) - 1
    split = [p for p in pages if p.first_turn == p.last_turn == long_turn]
    assert len(split) == 3  # 700 events in pages of 300


def test_the_estimate_is_sampled_on_long_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report_module, "MAX_ESTIMATES", 4)
    events: list[Event] = [AgentCreated(agent="ada", at=AT, seq=1)]
    for i in range(20):
        usage = TokenUsage(prompt_tokens=0 if i % 2 else 100 + i)
        events.append(
            LLMResponded(agent="ada", at=AT, seq=len(events) + 1, model="m", usage=usage)
        )
    data = report_data("ada", events)
    assert data.estimate_stride == 5
    reported = [p for p in data.points if p.reported is not None]
    unreported = [p for p in data.points if p.reported is None]
    # Every 5th step, counted over all steps, and every 5th of those without a report.
    assert [p.seq for p in data.points if p.estimated is not None and p.reported] == [2, 12]
    assert [p.estimated is not None for p in unreported] == [i % 5 == 0 for i in range(10)]
    assert len(reported) == len(unreported) == 10


def test_an_empty_or_broken_log_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="no events"):
        render_report("ada", [])
    gap: list[Event] = [
        AgentCreated(agent="ada", seq=1, at=AT),
        UserMessage(agent="ada", seq=3, at=AT, text=""),
    ]
    with pytest.raises(UsageError, match="no gaps"):
        render_report("ada", gap)
