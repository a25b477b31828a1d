"""Agent names: what a valid one is (the log, the CLI and ``memvisor.toml`` agree)."""

import re

from ._exceptions import UsageError

__all__ = ["NAME_RE", "check_name"]

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def check_name(name: str) -> str:
    """``name`` if it is a valid agent name.

    Raises:
        UsageError: it is not 1-64 letters, digits, ``_``, ``.`` or ``-`` starting
            with a letter or digit.
    """
    if not NAME_RE.fullmatch(name):
        raise UsageError(
            f"invalid agent name {name!r}: use 1-64 letters, digits, '_', '.' or '-',"
            " starting with a letter or digit"
        )
    return name
