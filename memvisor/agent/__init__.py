"""The agent: an actor that pages its own memory (DESIGN sections 1, 5 and 6).

```python
async with open_sqlite_log(path) as log, open_runtime() as runtime:
    await log.append([new_agent("ada", model="gpt-4o-mini")])
    ada = spawn_agent(runtime, "ada", log=log, llm=OpenAIClient())
    report = await ada.ask(Deliver(event=user_message("Hi, I'm Bob.")))
    print(report.replies)
```

The decisions live in a pure state machine (:func:`next_action` over the folded
:class:`Turn`); :class:`AgentActor` carries them out and logs what happened.
"""

from .._util import fixup_module_metadata as _fixup
from ._agent import AgentActor as AgentActor
from ._agent import AgentConfig as AgentConfig
from ._agent import AgentRequest as AgentRequest
from ._agent import Amend as Amend
from ._agent import Amendment as Amendment
from ._agent import Deliver as Deliver
from ._agent import Inbound as Inbound
from ._agent import TurnReport as TurnReport
from ._builtins import BUILTIN_FUNCTIONS as BUILTIN_FUNCTIONS
from ._builtins import builtin_registry as builtin_registry
from ._builtins import user_tool as user_tool
from ._host import AgentDirectory as AgentDirectory
from ._host import LazyArchival as LazyArchival
from ._host import lazy_archival as lazy_archival
from ._host import no_archival as no_archival
from ._host import spawn_agent as spawn_agent
from ._processor import Completed as Completed
from ._processor import Failed as Failed
from ._processor import LLMCall as LLMCall
from ._processor import LLMOutcome as LLMOutcome
from ._processor import Overflowed as Overflowed
from ._processor import Processor as Processor
from ._prompts import PromptName as PromptName
from ._prompts import default_prompt as default_prompt
from ._prompts import new_agent as new_agent
from ._prompts import prompt_path as prompt_path
from ._summary import fallback_summary as fallback_summary
from ._summary import summary_request as summary_request
from ._toolkit import Directory as Directory
from ._toolkit import Effect as Effect
from ._toolkit import ToolContext as ToolContext
from ._toolkit import ToolResult as ToolResult
from ._tools import ToolLimits as ToolLimits
from ._tools import run_call as run_call
from ._turn import OVERFLOW as OVERFLOW
from ._turn import TOOL_OVERHEAD as TOOL_OVERHEAD
from ._turn import Action as Action
from ._turn import Alert as Alert
from ._turn import Compact as Compact
from ._turn import Fail as Fail
from ._turn import Limit as Limit
from ._turn import Recover as Recover
from ._turn import RunCall as RunCall
from ._turn import Step as Step
from ._turn import Turn as Turn
from ._turn import TurnConfig as TurnConfig
from ._turn import Yield as Yield
from ._turn import advance as advance
from ._turn import answered_ask as answered_ask
from ._turn import calls_of as calls_of
from ._turn import next_action as next_action
from ._turn import outgoing as outgoing
from ._turn import tools_tokens as tools_tokens

__all__ = [
    "BUILTIN_FUNCTIONS",
    "OVERFLOW",
    "TOOL_OVERHEAD",
    "Action",
    "AgentActor",
    "AgentConfig",
    "AgentDirectory",
    "AgentRequest",
    "Alert",
    "Amend",
    "Amendment",
    "Compact",
    "Completed",
    "Deliver",
    "Directory",
    "Effect",
    "Fail",
    "Failed",
    "Inbound",
    "LLMCall",
    "LLMOutcome",
    "LazyArchival",
    "Limit",
    "Overflowed",
    "Processor",
    "PromptName",
    "Recover",
    "RunCall",
    "Step",
    "ToolContext",
    "ToolLimits",
    "ToolResult",
    "Turn",
    "TurnConfig",
    "TurnReport",
    "Yield",
    "advance",
    "answered_ask",
    "builtin_registry",
    "calls_of",
    "default_prompt",
    "fallback_summary",
    "lazy_archival",
    "new_agent",
    "next_action",
    "no_archival",
    "outgoing",
    "prompt_path",
    "run_call",
    "spawn_agent",
    "summary_request",
    "tools_tokens",
    "user_tool",
]

_fixup(__name__, globals())
del _fixup
