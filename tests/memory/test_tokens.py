"""The local token estimate: calibration samples and the properties compaction relies on."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memvisor.events import ToolCall
from memvisor.memory._messages import ChatMessage
from memvisor.memory._tokens import (
    REPLY_PRIMING,
    estimate_messages,
    estimate_text,
    message_tokens,
    truncate_to_tokens,
)

from .strategies import texts

_long_texts = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=300
)


# cl100k_base (GPT-4, GPT-3.5) token counts of these texts, counted by hand from
# how its byte-pair merges split them (no tokenizer vocabulary can be fetched in
# tests); the estimate must stay within the tolerance its module states.
@pytest.mark.parametrize(
    ("text", "cl100k"),
    [
        ("Hello world", 2),
        ("The quick brown fox jumps over the lazy dog.", 10),
        ("You miss 100% of the shots you don't take", 11),
        (
            "Core memory is limited in size; additional information is stored in archival memory.",
            16,
        ),
        ('{"type": "user_message", "message": "hi there", "time": "2025-01-01T00:00:00Z"}', 32),
        ("    def fold(state, event):\n        return state\n", 12),
    ],
)
def test_estimate_is_within_a_quarter_of_cl100k_on_english_and_json(
    text: str, cl100k: int
) -> None:
    assert 0.75 * cl100k <= estimate_text(text) <= 1.25 * cl100k


def test_estimate_of_nothing_is_zero() -> None:
    assert estimate_text("") == 0


def test_non_ascii_text_costs_by_script() -> None:
    assert estimate_text("記憶體") == 3  # one per CJK character
    assert estimate_text("👋👋") == 4  # two per emoji
    assert estimate_text("привет") == 3  # one per two Cyrillic letters
    assert estimate_text("café") == 2


def test_a_lone_space_joins_the_next_word_but_runs_of_whitespace_cost() -> None:
    assert estimate_text("a b") == 2
    assert estimate_text("a\n\nb") == 3
    assert estimate_text("a" + " " * 8 + "b") == 4


@given(_long_texts, st.integers(0, 300))
def test_estimate_never_decreases_as_text_grows(text: str, cut: int) -> None:
    assert estimate_text(text[:cut]) <= estimate_text(text)


@given(_long_texts, _long_texts)
def test_estimate_is_nearly_additive(a: str, b: str) -> None:
    assert estimate_text(a + b) <= estimate_text(a) + estimate_text(b) + 1
    if a.endswith("\n") and b and not b[0].isspace():
        assert estimate_text(a + b) == estimate_text(a) + estimate_text(b)


def test_message_tokens_count_overhead_name_and_calls() -> None:
    plain = ChatMessage(role="user", content="hello")
    assert message_tokens(plain) == 3 + 1
    tool = ChatMessage(role="tool", content="hello", tool_call_id="c1", name="send_message")
    assert message_tokens(tool) == 3 + 1 + 1 + estimate_text("send_message")
    call = ToolCall(id="c1", name="send_message", arguments='{"message": "hi"}')
    assistant = ChatMessage(role="assistant", tool_calls=(call, call))
    per_call = 3 + estimate_text(call.name) + estimate_text(call.arguments)
    assert message_tokens(assistant) == 3 + 2 * per_call
    assert estimate_messages([plain, tool]) == REPLY_PRIMING + message_tokens(
        plain
    ) + message_tokens(tool)


@given(texts, st.integers(0, 40))
def test_truncation_fits_the_budget_and_keeps_a_prefix(text: str, budget: int) -> None:
    cut = truncate_to_tokens(text, budget)
    assert estimate_text(cut) <= budget
    if estimate_text(text) <= budget:
        assert cut == text
    elif cut:
        assert cut.endswith(" […]")
        assert text.startswith(cut.removesuffix(" […]"))


def test_truncation_to_a_budget_below_the_marker_is_empty() -> None:
    assert truncate_to_tokens("a long text " * 10, 1) == ""
