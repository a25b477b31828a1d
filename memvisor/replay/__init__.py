"""Debugging an agent from its log: checking a replay against it, and the HTML report."""

from .._util import fixup_module_metadata
from ._check import RERUN_FUNCTIONS as RERUN_FUNCTIONS
from ._check import CheckReport as CheckReport
from ._check import Divergence as Divergence
from ._check import check_replay as check_replay
from ._describe import describe_action as describe_action
from ._describe import describe_difference as describe_difference
from ._describe import describe_event as describe_event
from ._prompt_diff import decode_prompt as decode_prompt
from ._prompt_diff import decode_tools as decode_tools
from ._prompt_diff import prompt_diff as prompt_diff
from ._prompt_diff import prompt_lines as prompt_lines

__all__ = [
    "RERUN_FUNCTIONS",
    "CheckReport",
    "Divergence",
    "check_replay",
    "decode_prompt",
    "decode_tools",
    "describe_action",
    "describe_difference",
    "describe_event",
    "prompt_diff",
    "prompt_lines",
]

fixup_module_metadata(__name__, globals())
