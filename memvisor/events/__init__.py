"""Events and the log: the vocabulary of everything that happens to an agent.

Every event is a frozen msgspec Struct in one tagged union, :data:`Event`. An
agent's log is the sequence of its events (``seq`` 1, 2, 3 … with no gaps) and
the single source of truth; everything else is a projection of it.
"""

from .._util import fixup_module_metadata as _fixup
from ._codec import EVENT_TYPES as EVENT_TYPES
from ._codec import decode_event as decode_event
from ._codec import encode_event as encode_event
from ._codec import event_type as event_type
from ._lineage import Difference as Difference
from ._lineage import first_difference as first_difference
from ._lineage import fork_events as fork_events
from ._log import Durability as Durability
from ._log import EventLog as EventLog
from ._log import LogStatistics as LogStatistics
from ._log import MemoryEventLog as MemoryEventLog
from ._portable import EXPORT_FORMAT as EXPORT_FORMAT
from ._portable import EXPORT_VERSION as EXPORT_VERSION
from ._portable import ExportedLog as ExportedLog
from ._portable import ExportedPrompt as ExportedPrompt
from ._portable import ExportHeader as ExportHeader
from ._portable import export_lines as export_lines
from ._portable import parse_export as parse_export
from ._portable import rename as rename
from ._prompts import PROMPTS_FILENAME as PROMPTS_FILENAME
from ._prompts import MemoryPromptStore as MemoryPromptStore
from ._prompts import PromptRecorder as PromptRecorder
from ._prompts import SqlitePromptStore as SqlitePromptStore
from ._prompts import StoredPrompt as StoredPrompt
from ._prompts import open_prompt_store as open_prompt_store
from ._prompts import prompt_digest as prompt_digest
from ._recall import MAX_PAGE_SIZE as MAX_PAGE_SIZE
from ._recall import RECALL_ROLES as RECALL_ROLES
from ._recall import RecallEntry as RecallEntry
from ._recall import RecallHit as RecallHit
from ._recall import RecallPage as RecallPage
from ._recall import RecallQuery as RecallQuery
from ._recall import RecallRole as RecallRole
from ._recall import message_of as message_of
from ._sqlite import SqliteEventLog as SqliteEventLog
from ._sqlite import open_sqlite_log as open_sqlite_log
from ._types import AgentCreated as AgentCreated
from ._types import AgentMessage as AgentMessage
from ._types import AssistantMessage as AssistantMessage
from ._types import BlockSpec as BlockSpec
from ._types import ContextCompacted as ContextCompacted
from ._types import ContextRewound as ContextRewound
from ._types import CoreMemoryEdited as CoreMemoryEdited
from ._types import ErrorEvent as ErrorEvent
from ._types import Event as Event
from ._types import ExternalEvent as ExternalEvent
from ._types import HeartbeatsPaused as HeartbeatsPaused
from ._types import LLMResponded as LLMResponded
from ._types import MemoryPressure as MemoryPressure
from ._types import SourceAttached as SourceAttached
from ._types import StepLimited as StepLimited
from ._types import TimerCancelled as TimerCancelled
from ._types import TimerFired as TimerFired
from ._types import TimerSet as TimerSet
from ._types import TokenUsage as TokenUsage
from ._types import ToolCall as ToolCall
from ._types import ToolCalled as ToolCalled
from ._types import ToolReturned as ToolReturned
from ._types import UserMessage as UserMessage

__all__ = [
    "EVENT_TYPES",
    "EXPORT_FORMAT",
    "EXPORT_VERSION",
    "MAX_PAGE_SIZE",
    "PROMPTS_FILENAME",
    "RECALL_ROLES",
    "AgentCreated",
    "AgentMessage",
    "AssistantMessage",
    "BlockSpec",
    "ContextCompacted",
    "ContextRewound",
    "CoreMemoryEdited",
    "Difference",
    "Durability",
    "ErrorEvent",
    "Event",
    "EventLog",
    "ExportHeader",
    "ExportedLog",
    "ExportedPrompt",
    "ExternalEvent",
    "HeartbeatsPaused",
    "LLMResponded",
    "LogStatistics",
    "MemoryEventLog",
    "MemoryPressure",
    "MemoryPromptStore",
    "PromptRecorder",
    "RecallEntry",
    "RecallHit",
    "RecallPage",
    "RecallQuery",
    "RecallRole",
    "SourceAttached",
    "SqliteEventLog",
    "SqlitePromptStore",
    "StepLimited",
    "StoredPrompt",
    "TimerCancelled",
    "TimerFired",
    "TimerSet",
    "TokenUsage",
    "ToolCall",
    "ToolCalled",
    "ToolReturned",
    "UserMessage",
    "decode_event",
    "encode_event",
    "event_type",
    "export_lines",
    "first_difference",
    "fork_events",
    "message_of",
    "open_prompt_store",
    "open_sqlite_log",
    "parse_export",
    "prompt_digest",
    "rename",
]

_fixup(__name__, globals())
del _fixup
