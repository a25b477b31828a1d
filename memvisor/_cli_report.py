"""``memvisor report NAME -o FILE.html``: an agent's log as one self-contained HTML page.

Like ``replay``, it reads the log alone (no LLM server, no archival store), so it
works on a log whose server is long gone. The page loads nothing from anywhere:
it can be mailed, archived, or opened offline.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import click

from ._cli_session import read_events
from ._cli_support import Home, user_errors
from ._exceptions import UsageError
from ._names import check_name
from .replay import render_report

__all__ = ["report"]


@click.command()
@click.argument("name")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="The HTML file to write (default: NAME.html in the current directory).",
)
@click.pass_obj
def report(home: Home, name: str, output: Path | None) -> None:
    """Write agent NAME's log as one HTML page: the turns as a timeline, the context
    window's fill over time (warning and flush lines, compactions), and core memory
    as it was at the event you select. The page needs no network.
    """
    with user_errors():
        check_name(name)
        events = anyio.run(read_events, home, name)
        page = render_report(name, events)
        path = output if output is not None else Path(f"{name}.html")
        _write(path, page)
    size = path.stat().st_size
    click.echo(f"wrote {path}: {len(events):,} events of {name!r}, {_size(size)}")


def _write(path: Path, page: str) -> None:
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _size(size: int) -> str:
    if size < 1024 * 1024:
        return f"{size / 1024:,.0f} KB"
    return f"{size / (1024 * 1024):,.1f} MB"
