"""Memory: what the agent sees and what it can page in.

* core memory: labelled blocks with limits, edited through functions whose
  rejections tell the model what to do instead; blocks can be shared;
* the main context: a pure fold of the log (:func:`fold_all`) compiled into the
  prompt (:func:`compile_context`), with compaction planned from token usage
  (:func:`plan_compaction`) and written as a recursive summary;
* recall: every message, searched in the log itself (see
  :meth:`memvisor.events.EventLog.search_recall`), formatted for the model.

Everything here except the archival store is pure: no I/O, no clock, so replay
reproduces it exactly.
"""

from .._util import fixup_module_metadata as _fixup
from ._compaction import CannotCompact as CannotCompact
from ._compaction import CompactionConfig as CompactionConfig
from ._compaction import CompactionPlan as CompactionPlan
from ._compaction import Evict as Evict
from ._compaction import NoCompaction as NoCompaction
from ._compaction import PressureAlert as PressureAlert
from ._compaction import Summarizer as Summarizer
from ._compaction import compact as compact
from ._compaction import compaction_event as compaction_event
from ._compaction import evicted_messages as evicted_messages
from ._compaction import plan_compaction as plan_compaction
from ._context import CompiledContext as CompiledContext
from ._context import compile_context as compile_context
from ._context import prompt_hash as prompt_hash
from ._core import DEFAULT_BLOCK_LIMIT as DEFAULT_BLOCK_LIMIT
from ._core import Block as Block
from ._core import CoreMemory as CoreMemory
from ._core import Edited as Edited
from ._core import EditOp as EditOp
from ._core import EditOutcome as EditOutcome
from ._core import EditRejected as EditRejected
from ._core import apply_edit as apply_edit
from ._core import core_append as core_append
from ._core import core_create as core_create
from ._core import core_replace as core_replace
from ._core import core_rewrite as core_rewrite
from ._messages import ChatMessage as ChatMessage
from ._recall import HIT_MAX_CHARS as HIT_MAX_CHARS
from ._recall import day_bounds as day_bounds
from ._recall import format_recall_hit as format_recall_hit
from ._recall import format_recall_page as format_recall_page
from ._shared import Share as Share
from ._shared import SharedBlocks as SharedBlocks
from ._shared import Sharer as Sharer
from ._shared import fan_out as fan_out
from ._state import AgentState as AgentState
from ._state import QueuedMessage as QueuedMessage
from ._state import fold as fold
from ._state import fold_all as fold_all
from ._tokens import estimate_messages as estimate_messages
from ._tokens import estimate_text as estimate_text

__all__ = [
    "DEFAULT_BLOCK_LIMIT",
    "HIT_MAX_CHARS",
    "AgentState",
    "Block",
    "CannotCompact",
    "ChatMessage",
    "CompactionConfig",
    "CompactionPlan",
    "CompiledContext",
    "CoreMemory",
    "EditOp",
    "EditOutcome",
    "EditRejected",
    "Edited",
    "Evict",
    "NoCompaction",
    "PressureAlert",
    "QueuedMessage",
    "Share",
    "SharedBlocks",
    "Sharer",
    "Summarizer",
    "apply_edit",
    "compact",
    "compaction_event",
    "compile_context",
    "core_append",
    "core_create",
    "core_replace",
    "core_rewrite",
    "day_bounds",
    "estimate_messages",
    "estimate_text",
    "evicted_messages",
    "fan_out",
    "fold",
    "fold_all",
    "format_recall_hit",
    "format_recall_page",
    "plan_compaction",
    "prompt_hash",
]

_fixup(__name__, globals())
del _fixup
