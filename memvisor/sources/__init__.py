"""Event sources: what feeds agents' mailboxes from the outside world."""

from .._util import fixup_module_metadata as _fixup
from ._delivery import Accepted as Accepted
from ._delivery import Busy as Busy
from ._delivery import Deliverer as Deliverer
from ._delivery import Delivery as Delivery
from ._delivery import Duplicate as Duplicate
from ._delivery import MemoryDeliverer as MemoryDeliverer
from ._delivery import Outbox as Outbox
from ._delivery import UnknownAgent as UnknownAgent

__all__ = [
    "Accepted",
    "Busy",
    "Deliverer",
    "Delivery",
    "Duplicate",
    "MemoryDeliverer",
    "Outbox",
    "UnknownAgent",
]

_fixup(__name__, globals())
del _fixup
