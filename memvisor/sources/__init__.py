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
from ._schedule import Cron as Cron
from ._schedule import Every as Every
from ._schedule import Schedule as Schedule
from ._schedule import next_fire as next_fire
from ._schedule import parse_cron as parse_cron
from ._schedule import parse_every as parse_every
from ._watch import watch as watch
from ._watch_rules import ChangeKind as ChangeKind
from ._watch_rules import FileChange as FileChange
from ._watch_rules import WatchSpec as WatchSpec
from ._webhook import ASGIApp as ASGIApp
from ._webhook import serve_webhooks as serve_webhooks
from ._webhook import webhook_app as webhook_app
from ._webhook_rules import WebhookAuth as WebhookAuth
from ._webhook_rules import webhook_signature as webhook_signature

__all__ = [
    "ASGIApp",
    "Accepted",
    "Busy",
    "ChangeKind",
    "Cron",
    "Deliverer",
    "Delivery",
    "Duplicate",
    "Every",
    "FileChange",
    "MemoryDeliverer",
    "Outbox",
    "Schedule",
    "UnknownAgent",
    "WatchSpec",
    "WebhookAuth",
    "next_fire",
    "parse_cron",
    "parse_every",
    "serve_webhooks",
    "watch",
    "webhook_app",
    "webhook_signature",
]

_fixup(__name__, globals())
del _fixup
