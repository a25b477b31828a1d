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

Importing this package imports neither LanceDB, NumPy nor the openai SDK (over
a second together), so a command that never touches archival memory starts
fast: the store, the embedders and the source loader are imported on first
access to one of their names (PEP 562 ``__getattr__``; ``_LAZY`` lists them).
"""

import importlib as _importlib
import typing as _typing

from .._util import fixup_module_metadata as _fixup
from ._archival_model import ArchivalPage as ArchivalPage
from ._archival_model import ArchivalStatistics as ArchivalStatistics
from ._archival_model import ArchivalStore as ArchivalStore
from ._archival_model import Passage as Passage
from ._archival_model import PassageHit as PassageHit
from ._archival_model import SearchMode as SearchMode
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
from ._context import CompiledPrompt as CompiledPrompt
from ._context import compile_context as compile_context
from ._context import compile_prompt as compile_prompt
from ._context import prompt_hash as prompt_hash
from ._core import ARCHIVAL_INSERT as ARCHIVAL_INSERT
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
from ._usage import ContextUsage as ContextUsage
from ._usage import UsagePart as UsagePart
from ._usage import context_usage as context_usage

if _typing.TYPE_CHECKING:  # what mypy sees; at run time ``__getattr__`` below imports them
    from ._archival import LanceArchivalStore as LanceArchivalStore
    from ._archival import open_archival as open_archival
    from ._embedders import Embedder as Embedder
    from ._embedders import LocalEmbedder as LocalEmbedder
    from ._embedders import OpenAIEmbedder as OpenAIEmbedder

_LAZY = {
    "LanceArchivalStore": "._archival",
    "open_archival": "._archival",
    "Embedder": "._embedders",
    "LocalEmbedder": "._embedders",
    "OpenAIEmbedder": "._embedders",
}
"""Exported names whose modules import LanceDB, NumPy or the openai SDK, and where they live."""

__all__ = [
    "ARCHIVAL_INSERT",
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
    "CompiledPrompt",
    "ContextUsage",
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
    "UsagePart",
    "apply_edit",
    "chunk_text",
    "compact",
    "compaction_event",
    "compile_context",
    "compile_prompt",
    "context_usage",
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


def _import_lazy(name: str) -> object:
    """Import the module that defines ``name``, then keep ``name`` here like any other."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value: object = getattr(_importlib.import_module(module, __name__), name)
    _fixup(__name__, {name: value})
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


if not _typing.TYPE_CHECKING:  # hidden from mypy, so a misspelt name stays an error
    __getattr__ = _import_lazy

_fixup(__name__, globals())
