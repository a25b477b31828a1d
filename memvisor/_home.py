"""Where a runtime keeps its files: ``--home``, else ``$MEMVISOR_HOME``, else ``~/.memvisor``."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["LOG_FILENAME", "log_path", "resolve_home"]

LOG_FILENAME = "events.sqlite3"


def resolve_home(home: str | os.PathLike[str] | None = None) -> Path:
    """The runtime's home directory (not created here)."""
    if home is not None:
        return Path(home).expanduser()
    env = os.environ.get("MEMVISOR_HOME")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".memvisor"


def log_path(home: str | os.PathLike[str] | None = None) -> Path:
    """The event log's database file inside the home directory."""
    return resolve_home(home) / LOG_FILENAME
