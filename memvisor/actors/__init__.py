"""The actor runtime: named actors with bounded mailboxes, supervised, on anyio.

Everything here runs on trio (the default, and the backend for virtual time
under ``trio.testing.MockClock``) and on asyncio.

```python
async with open_runtime() as runtime:
    ref = runtime.spawn("counter", Counter)
    await ref.tell(Increment())
    total = await ref.ask(Get(), timeout=5)
```
"""

from .._util import fixup_module_metadata as _fixup
from ._actor import Actor as Actor
from ._actor import ActorContext as ActorContext
from ._actor import ActorRef as ActorRef
from ._actor import ActorState as ActorState
from ._actor import ActorStatistics as ActorStatistics
from ._clock import Clock as Clock
from ._runtime import Runtime as Runtime
from ._runtime import RuntimeStatistics as RuntimeStatistics
from ._runtime import open_runtime as open_runtime
from ._supervisor import GiveUp as GiveUp
from ._supervisor import Restart as Restart
from ._supervisor import RestartPolicy as RestartPolicy
from ._supervisor import Supervision as Supervision
from ._supervisor import SupervisorDecision as SupervisorDecision
from ._timers import Timer as Timer
from ._timers import TimerQueue as TimerQueue

__all__ = [
    "Actor",
    "ActorContext",
    "ActorRef",
    "ActorState",
    "ActorStatistics",
    "Clock",
    "GiveUp",
    "Restart",
    "RestartPolicy",
    "Runtime",
    "RuntimeStatistics",
    "Supervision",
    "SupervisorDecision",
    "Timer",
    "TimerQueue",
    "open_runtime",
]

_fixup(__name__, globals())
del _fixup
