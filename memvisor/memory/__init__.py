"""Memory: what the agent sees and what it can page in.

* core memory: labelled blocks with limits, edited through functions whose
  rejections tell the model what to do instead; blocks can be shared;
* the main context: a pure fold of the log (:func:`fold_all`) compiled into the
  prompt (:func:`compile_context`), with compaction planned from token usage
  (:func:`plan_compaction`) and written as a recursive summary;
* recall: every message, searched in the log itself (see
  :meth:`memvisor.events.EventLog.search_recall`), formatted for the model;
* archival: passages in LanceDB (:func:`open_archival`), searched by meaning,
  by words, or both (the default), embedded by an OpenAI-compatible server, a
  local model, or nothing (full-text only); data sources load files into it.

Everything but the archival store and the source loader is pure: no I/O, no
clock, so replay reproduces it exactly.
"""

from .._util import fixup_module_metadata as _fixup
from ._archival import ArchivalPage as ArchivalPage
from ._archival import ArchivalStatistics as ArchivalStatistics
from ._archival import ArchivalStore as ArchivalStore
from ._archival import LanceArchivalStore as LanceArchivalStore
from ._archival import Passage as Passage
from ._archival import PassageHit as PassageHit
from ._archival import SearchMode as SearchMode
from ._archival import open_archival as open_archival
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
from ._embedders import Embedder as Embedder
from ._embedders import LocalEmbedder as LocalEmbedder
from ._embedders import OpenAIEmbedder as OpenAIEmbedder
from ._messages import ChatMessage as ChatMessage
from ._recall import HIT_MAX_CHARS as HIT_MAX_CHARS
from ._recall import day_bounds as day_bounds
from ._recall import format_recall_hit as format_recall_hit
from ._recall import format_recall_page as format_recall_page
from ._shared import Share as Share
from ._shared import SharedBlocks as SharedBlocks
from ._shared import Sharer as Sharer
from ._shared import fan_out as fan_out
from ._sources import ChunkSpec as ChunkSpec
from ._sources import LoadReport as LoadReport
from ._sources import SkippedFile as SkippedFile
from ._sources import chunk_text as chunk_text
from ._sources import load_source as load_source
from ._sources import source_owner as source_owner
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
    "ArchivalPage",
    "ArchivalStatistics",
    "ArchivalStore",
    "Block",
    "CannotCompact",
    "ChatMessage",
    "ChunkSpec",
    "CompactionConfig",
    "CompactionPlan",
    "CompiledContext",
    "CoreMemory",
    "EditOp",
    "EditOutcome",
    "EditRejected",
    "Edited",
    "Embedder",
    "Evict",
    "LanceArchivalStore",
    "LoadReport",
    "LocalEmbedder",
    "NoCompaction",
    "OpenAIEmbedder",
    "Passage",
    "PassageHit",
    "PressureAlert",
    "QueuedMessage",
    "SearchMode",
    "Share",
    "SharedBlocks",
    "Sharer",
    "SkippedFile",
    "Summarizer",
    "apply_edit",
    "chunk_text",
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
    "load_source",
    "open_archival",
    "plan_compaction",
    "prompt_hash",
    "source_owner",
]

_fixup(__name__, globals())
del _fixup
