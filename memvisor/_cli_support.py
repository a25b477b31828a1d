"""What every ``memvisor`` subcommand shares: the home directory and error reporting."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import click
import msgspec

from ._exceptions import MemvisorError
from ._home import log_path
from .events import PROMPTS_FILENAME

__all__ = ["Home", "user_errors"]

E = TypeVar("E", bound=BaseException)


class Home(msgspec.Struct, frozen=True):
    """The runtime's home directory and the files in it."""

    path: Path

    @property
    def log(self) -> Path:
        """The event log."""
        return log_path(self.path)

    @property
    def prompts(self) -> Path:
        """The prompt store (every prompt sent, for ``replay --check``'s diffs)."""
        return self.path / PROMPTS_FILENAME

    @property
    def archival(self) -> Path:
        """The archival store (a LanceDB directory)."""
        return self.path / "archival"


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn memvisor's expected failures into one readable line and an exit status:
    the error's ``exit_status`` if it has one (2 for a missing configuration), else 1."""
    try:
        try:
            yield
        except* MemvisorError as group:  # errors out of task groups arrive grouped
            errors = _leaves(group)
            for exc in errors:
                click.echo(f"memvisor: error: {exc}", err=True)
            sys.exit(max(getattr(exc, "exit_status", 1) for exc in errors))
    except* click.ClickException as group:  # raised inside an event loop: unwrap for click
        raise _leaves(group)[0] from None


def _leaves(group: BaseExceptionGroup[E]) -> list[E]:
    """The errors in ``group`` and in the groups nested in it (task groups in task groups)."""
    leaves: list[E] = []
    for exc in group.exceptions:
        leaves += _leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc]
    return leaves
