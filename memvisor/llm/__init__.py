"""The LLM side: a client over the openai SDK (any OpenAI-compatible server) and a
scripted model for tests and simulations.

Everything crossing this package's boundary is a msgspec Struct: the SDK's
objects and dicts never leave it.
"""

from .._util import fixup_module_metadata as _fixup
from ._client import OpenAIClient as OpenAIClient
from ._client import RetryPolicy as RetryPolicy
from ._scripted import ScriptedLLM as ScriptedLLM
from ._scripted import reply_with_call as reply_with_call
from ._scripted import reply_with_text as reply_with_text
from ._types import LLMClient as LLMClient
from ._types import LLMRequest as LLMRequest
from ._types import LLMResponse as LLMResponse
from ._types import ToolSchema as ToolSchema

__all__ = [
    "LLMClient",
    "LLMRequest",
    "LLMResponse",
    "OpenAIClient",
    "RetryPolicy",
    "ScriptedLLM",
    "ToolSchema",
    "reply_with_call",
    "reply_with_text",
]

_fixup(__name__, globals())
del _fixup
