"""Simulations: populations of agents in virtual time, scripted or with real models.

```python
scenario = load_scenario(Path("examples/rumour.toml"))
summary = run_scenario(scenario, Path("runs/rumour"))
```
"""

from .._util import fixup_module_metadata as _fixup
from ._policies import POLICIES as POLICIES
from ._policies import Policy as Policy
from ._policies import PolicyContext as PolicyContext
from ._policies import policy_named as policy_named
from ._policies import with_summaries as with_summaries
from ._runner import SimulationSummary as SimulationSummary
from ._runner import Spread as Spread
from ._runner import run_scenario as run_scenario
from ._scenario import AgentGroup as AgentGroup
from ._scenario import EventInput as EventInput
from ._scenario import Input as Input
from ._scenario import Scenario as Scenario
from ._scenario import load_scenario as load_scenario
from ._scenario import parse_duration as parse_duration

__all__ = [
    "POLICIES",
    "AgentGroup",
    "EventInput",
    "Input",
    "Policy",
    "PolicyContext",
    "Scenario",
    "SimulationSummary",
    "Spread",
    "load_scenario",
    "parse_duration",
    "policy_named",
    "run_scenario",
    "with_summaries",
]

_fixup(__name__, globals())
del _fixup
