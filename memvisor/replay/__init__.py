"""Debugging an agent from its log: checking a replay against it, and the HTML report."""

from .._util import fixup_module_metadata
from ._check import RERUN_FUNCTIONS as RERUN_FUNCTIONS
from ._check import CheckReport as CheckReport
from ._check import Divergence as Divergence
from ._check import check_replay as check_replay
from ._check import offered_tools as offered_tools
from ._describe import describe_action as describe_action
from ._describe import describe_difference as describe_difference
from ._describe import describe_event as describe_event
from ._prompt_diff import decode_prompt as decode_prompt
from ._prompt_diff import decode_tools as decode_tools
from ._prompt_diff import prompt_diff as prompt_diff
from ._prompt_diff import prompt_lines as prompt_lines
from ._report import BlockChange as BlockChange
from ._report import CompactionMark as CompactionMark
from ._report import FillPoint as FillPoint
from ._report import PressureMark as PressureMark
from ._report import ReportData as ReportData
from ._report import TimelinePage as TimelinePage
from ._report import TurnSpan as TurnSpan
from ._report import render_report as render_report
from ._report import report_data as report_data

__all__ = [
    "RERUN_FUNCTIONS",
    "BlockChange",
    "CheckReport",
    "CompactionMark",
    "Divergence",
    "FillPoint",
    "PressureMark",
    "ReportData",
    "TimelinePage",
    "TurnSpan",
    "check_replay",
    "decode_prompt",
    "decode_tools",
    "describe_action",
    "describe_difference",
    "describe_event",
    "offered_tools",
    "prompt_diff",
    "prompt_lines",
    "render_report",
    "report_data",
]

fixup_module_metadata(__name__, globals())
