"""The LLM side: a client over the openai SDK (any OpenAI-compatible server) and a
scripted model for tests and simulations.

Everything crossing this package's boundary is a msgspec Struct: the SDK's
objects and dicts never leave it.
"""

from .._util import fixup_module_metadata as _fixup
from ._client import OpenAIClient as OpenAIClient
from ._client import RetryPolicy as RetryPolicy
from ._content_calls import parse_call_from_content as parse_call_from_content
from ._functions import CallRejected as CallRejected
from ._functions import FunctionRegistry as FunctionRegistry
from ._functions import FunctionSpec as FunctionSpec
from ._functions import ParsedCall as ParsedCall
from ._functions import function_spec as function_spec
from ._functions import parse_call as parse_call
from ._scripted import ScriptedLLM as ScriptedLLM
from ._scripted import reply_with_call as reply_with_call
from ._scripted import reply_with_text as reply_with_text
from ._types import LLMClient as LLMClient
from ._types import LLMRequest as LLMRequest
from ._types import LLMResponse as LLMResponse
from ._types import ToolSchema as ToolSchema

__all__ = [
    "CallRejected",
    "FunctionRegistry",
    "FunctionSpec",
    "LLMClient",
    "LLMRequest",
    "LLMResponse",
    "OpenAIClient",
    "ParsedCall",
    "RetryPolicy",
    "ScriptedLLM",
    "ToolSchema",
    "function_spec",
    "parse_call",
    "parse_call_from_content",
    "reply_with_call",
    "reply_with_text",
]

_fixup(__name__, globals())
del _fixup
