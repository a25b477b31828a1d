"""Compaction: when to warn, what to evict, and the event that records it. Pure.

```
after each LLM response (or on an overflow error from the server):

 tokens = last reported prompt tokens, or the local estimate before any report
   │
   ├─ overflow, or tokens > flush·window ──► Evict(oldest messages, down to target·window)
   │                                         └─ nothing may be evicted ──► CannotCompact
   ├─ tokens > warning·window, not alerted ─► PressureAlert  (once per crossing: a
   │                                          compaction re-arms it)
   └─ otherwise ───────────────────────────► NoCompaction

 Evict ──► evicted_messages(state, plan) ──► summarizer(previous summary, messages)
       ──► compaction_event(state, plan, summary, seq=, at=) ──► ContextCompacted
       (or compact(state, plan, summarizer, ...) for the same in one call)
```

Invariants:

* An eviction takes the oldest queue messages, at least one, never any of the
  last ``keep_last``, and never a call without its results (nor a result
  without its call), so the queue left behind never starts with a tool result.
* It evicts the fewest messages that bring the estimate to ``target·window``,
  counting the new summary at its full budget (the summary is cut to that
  budget), or as many as it may when that is out of reach.
* Reported usage is the truth: when the server counted more tokens than the
  estimate (function schemas, another tokenizer), the estimate is scaled up by
  that ratio before it is compared, and an overflow error means the prompt had
  at least ``window`` tokens, whatever the estimate said.
* Evicted messages leave the context, never the log: they stay in recall.
"""

import functools
import math
from collections.abc import Callable, Sequence
from typing import Literal

import msgspec

from .._exceptions import ConfigError, UsageError
from ..events import ContextCompacted, MemoryPressure
from ._context import queue_costs, queue_messages, system_text
from ._messages import ChatMessage
from ._state import AgentState, QueuedMessage, pair_results
from ._tokens import REPLY_PRIMING, estimate_text, message_tokens, truncate_to_tokens

__all__ = [
    "CannotCompact",
    "CompactionConfig",
    "CompactionPlan",
    "Evict",
    "NoCompaction",
    "PressureAlert",
    "Summarizer",
    "compact",
    "compaction_event",
    "evicted_messages",
    "plan_compaction",
]

Summarizer = Callable[[str | None, Sequence[ChatMessage]], str]
"""``(previous summary, evicted messages) -> new recursive summary``."""


class CompactionConfig(msgspec.Struct, frozen=True, kw_only=True):
    """When to warn and when and how far to evict, as fractions of the context window."""

    warning_fraction: float = 0.75
    """Past this, the agent gets one memory-pressure alert."""
    flush_fraction: float = 1.0
    """Past this, the oldest messages are evicted (also on any overflow error)."""
    target_fraction: float = 0.5
    """Evict down to this."""
    keep_last: int = 4
    """Messages at the end of the queue that are never evicted."""
    summary_fraction: float = 0.1
    """The most of the window the recursive summary may take (a longer one is cut)."""

    def __post_init__(self) -> None:
        if not 0 < self.target_fraction < self.flush_fraction:
            raise ConfigError(
                f"target_fraction ({self.target_fraction}) must be above 0 and below"
                f" flush_fraction ({self.flush_fraction})"
            )
        if self.warning_fraction <= 0:
            raise ConfigError(f"warning_fraction must be above 0, not {self.warning_fraction}")
        if not 0 < self.summary_fraction < self.target_fraction:
            raise ConfigError(
                f"summary_fraction ({self.summary_fraction}) must be above 0 and below"
                f" target_fraction ({self.target_fraction})"
            )
        if self.keep_last < 0:
            raise ConfigError(f"keep_last must be 0 or more, not {self.keep_last}")


class NoCompaction(msgspec.Struct, frozen=True, kw_only=True):
    """Nothing to do."""

    prompt_tokens: int
    context_window: int


class PressureAlert(msgspec.Struct, frozen=True, kw_only=True):
    """Warn the agent (once) that its context is filling up."""

    prompt_tokens: int
    context_window: int

    def event(
        self, *, agent: str, seq: int, at: float, cause: int | None = None
    ) -> MemoryPressure:
        """The event that delivers the alert (folding it sends the model a system alert)."""
        return MemoryPressure(
            agent=agent,
            seq=seq,
            at=at,
            cause=cause,
            prompt_tokens=self.prompt_tokens,
            context_window=self.context_window,
        )


class Evict(msgspec.Struct, frozen=True, kw_only=True):
    """Evict the ``count`` oldest queue messages, through ``through_seq``."""

    reason: Literal["flush", "overflow"]
    through_seq: int
    count: int
    tokens_before: int
    """The prompt tokens that triggered it (reported, or estimated before any report)."""
    kept_tokens: int
    """Estimated tokens of the context after eviction, without the summary's text."""
    summary_budget: int
    """Estimated tokens the new summary may take; a longer one is cut to fit."""
    scale: float
    """Reported (or overflow-implied) tokens per estimated token, at least 1."""


class CannotCompact(msgspec.Struct, frozen=True, kw_only=True):
    """Eviction is due but nothing may be evicted (the queue is only what must be kept)."""

    prompt_tokens: int
    context_window: int
    reason: str


CompactionPlan = NoCompaction | PressureAlert | Evict | CannotCompact
"""What :func:`plan_compaction` decides. ``match`` over it ends with ``assert_never``."""

_DEFAULT_CONFIG = CompactionConfig()


def plan_compaction(
    state: AgentState,
    config: CompactionConfig = _DEFAULT_CONFIG,
    *,
    overflow: bool = False,
    archival_count: int,
    fixed_tokens: int = 0,
) -> CompactionPlan:
    """Decide whether to alert, evict or do nothing.

    Args:
        state: The agent's folded state, right after a response (or an error).
        config: Thresholds and how far to evict.
        overflow: The server refused the last prompt as too long: evict now,
            whatever the counts say.
        archival_count: Passages in archival memory (they are shown in the prompt).
        fixed_tokens: Estimated tokens every request carries besides its messages
            (the function schemas), so the estimate compares with what servers report.
    """
    window = state.context_window
    reported = state.last_prompt_tokens
    if not overflow and reported is not None and reported <= config.flush_fraction * window:
        # The server's count is the truth, and no eviction is due: the estimate
        # (the costly part) is only needed before the first report, or to evict.
        return _below_flush(state, config, reported)
    costs = queue_costs(state)
    system = system_text(state, archival_count=archival_count, summary=state.summary)
    estimate = REPLY_PRIMING + fixed_tokens + _system_tokens(system) + sum(costs)
    measured = estimate if reported is None else reported
    if overflow or measured > config.flush_fraction * window:
        scale = max(1.0, measured / estimate)
        if overflow:
            scale = max(scale, window / estimate)
        base = (
            REPLY_PRIMING
            + fixed_tokens
            + _system_tokens(system_text(state, archival_count=archival_count, summary=""))
        )
        return _plan_eviction(
            state,
            config,
            reason="overflow" if overflow else "flush",
            measured=measured,
            scale=scale,
            base=base,
            costs=costs,
        )
    return _below_flush(state, config, measured)


def _below_flush(
    state: AgentState, config: CompactionConfig, measured: int
) -> PressureAlert | NoCompaction:
    window = state.context_window
    if measured > config.warning_fraction * window and not state.pressure_alerted:
        return PressureAlert(prompt_tokens=measured, context_window=window)
    return NoCompaction(prompt_tokens=measured, context_window=window)


def _plan_eviction(
    state: AgentState,
    config: CompactionConfig,
    *,
    reason: Literal["flush", "overflow"],
    measured: int,
    scale: float,
    base: int,
    costs: tuple[int, ...],
) -> Evict | CannotCompact:
    window = state.context_window
    cuts = _valid_cuts(state.queue, keep_last=config.keep_last)
    if not cuts:
        return CannotCompact(
            prompt_tokens=measured,
            context_window=window,
            reason=(
                f"the queue holds {len(state.queue)} messages and the last"
                f" {config.keep_last} (with any call or result they pair with) are kept"
            ),
        )
    target = config.target_fraction * window / scale
    budget = math.floor(config.summary_fraction * window / scale)
    total = sum(costs)
    evicted = 0
    chosen = cuts[-1]
    previous = 0
    for k in cuts:
        evicted += sum(costs[previous:k])
        previous = k
        if base + budget + total - evicted <= target:
            chosen = k
            break
    return Evict(
        reason=reason,
        through_seq=state.queue[chosen - 1].seq,
        count=chosen,
        tokens_before=measured,
        kept_tokens=base + sum(costs[chosen:]),
        summary_budget=budget,
        scale=scale,
    )


def _valid_cuts(queue: tuple[QueuedMessage, ...], *, keep_last: int) -> list[int]:
    """Every ``k >= 1`` such that evicting ``queue[:k]`` keeps the last ``keep_last``
    and splits no call from its results, ascending."""
    limit = len(queue) - keep_last
    if limit < 1:
        return []
    blocked = [0] * (len(queue) + 2)  # difference array over k: cuts i+1 … last result
    for i, results in pair_results(queue).items():
        if results:
            blocked[i + 1] += 1
            blocked[max(results) + 1] -= 1
    cuts = []
    depth = 0
    for k in range(1, limit + 1):
        depth += blocked[k]
        if depth == 0:
            cuts.append(k)
    return cuts


@functools.lru_cache(maxsize=4096)
def _system_tokens(text: str) -> int:
    # Cached: between steps the system text rarely changes, and the estimate is a
    # regex pass over all of it.
    return message_tokens(ChatMessage(role="system", content=text))


def evicted_messages(state: AgentState, plan: Evict) -> tuple[ChatMessage, ...]:
    """The messages ``plan`` evicts, oldest first, each call followed by its results.

    Raises:
        UsageError: the plan was made for another state (plan again).
    """
    _check_plan(state, plan)
    head = msgspec.structs.replace(state, queue=state.queue[: plan.count])
    return queue_messages(head)


def compaction_event(
    state: AgentState,
    plan: Evict,
    summary: str,
    *,
    seq: int,
    at: float,
    cause: int | None = None,
) -> ContextCompacted:
    """The event that carries out ``plan`` with ``summary`` (stripped, and cut to its budget).

    Raises:
        UsageError: the plan was made for another state (plan again).
    """
    _check_plan(state, plan)
    summary = truncate_to_tokens(summary.strip(), plan.summary_budget)
    after = plan.kept_tokens + estimate_text(summary)
    return ContextCompacted(
        agent=state.agent,
        seq=seq,
        at=at,
        cause=cause,
        through_seq=plan.through_seq,
        evicted=plan.count,
        summary=summary,
        tokens_before=plan.tokens_before,
        tokens_after=math.ceil(after * plan.scale),
    )


def compact(
    state: AgentState,
    plan: Evict,
    summarizer: Summarizer,
    *,
    seq: int,
    at: float,
    cause: int | None = None,
) -> ContextCompacted:
    """Summarize the evicted messages with ``summarizer`` and return the event.

    The summarizer receives the previous summary (``None`` before the first
    compaction) and the evicted messages, and returns the new recursive summary.
    """
    summary = summarizer(state.summary, evicted_messages(state, plan))
    return compaction_event(state, plan, summary, seq=seq, at=at, cause=cause)


def _check_plan(state: AgentState, plan: Evict) -> None:
    queue = state.queue
    if not 1 <= plan.count <= len(queue) or queue[plan.count - 1].seq != plan.through_seq:
        raise UsageError(
            f"the compaction plan (evict {plan.count} through seq {plan.through_seq}) does not"
            " match this state: plan again",
            actor_id=state.agent or None,
        )
