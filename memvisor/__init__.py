"""memvisor: memory that outlives the context window, for LLM agents built as actors.

Subpackages: :mod:`memvisor.events` (the vocabulary and the log),
:mod:`memvisor.actors` (the runtime), :mod:`memvisor.memory` and
:mod:`memvisor.llm`.
"""

from ._exceptions import ActorBrokenError as ActorBrokenError
from ._exceptions import ActorClosedError as ActorClosedError
from ._exceptions import ActorError as ActorError
from ._exceptions import AskTimeoutError as AskTimeoutError
from ._exceptions import ConfigError as ConfigError
from ._exceptions import ConflictError as ConflictError
from ._exceptions import ContextOverflowError as ContextOverflowError
from ._exceptions import CorruptLogError as CorruptLogError
from ._exceptions import EmbeddingError as EmbeddingError
from ._exceptions import EventDecodeError as EventDecodeError
from ._exceptions import ForeignFileError as ForeignFileError
from ._exceptions import LLMAPIError as LLMAPIError
from ._exceptions import LogError as LogError
from ._exceptions import MailboxFullError as MailboxFullError
from ._exceptions import MemvisorError as MemvisorError
from ._exceptions import ModelBehaviorError as ModelBehaviorError
from ._exceptions import ToolError as ToolError
from ._exceptions import UnknownActorError as UnknownActorError
from ._exceptions import UsageError as UsageError
from ._exceptions import error_context as error_context
from ._util import fixup_module_metadata as _fixup

__version__ = "0.1.0"

__all__ = [
    "ActorBrokenError",
    "ActorClosedError",
    "ActorError",
    "AskTimeoutError",
    "ConfigError",
    "ConflictError",
    "ContextOverflowError",
    "CorruptLogError",
    "EmbeddingError",
    "EventDecodeError",
    "ForeignFileError",
    "LLMAPIError",
    "LogError",
    "MailboxFullError",
    "MemvisorError",
    "ModelBehaviorError",
    "ToolError",
    "UnknownActorError",
    "UsageError",
    "error_context",
]

_fixup(__name__, globals())
del _fixup
