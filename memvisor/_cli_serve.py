"""``memvisor serve --config memvisor.toml``: host agents and their event sources."""

from __future__ import annotations

from pathlib import Path

import anyio
import click

from ._cli_support import Home, user_errors

__all__ = ["serve"]


@click.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default="memvisor.toml",
    show_default=True,
    help="The config file (see examples/memvisor.toml).",
)
@click.pass_obj
def serve(home: Home, config_path: Path) -> None:
    """Run the agents of a config with its webhooks, file watchers and timers.

    Agents named in the config are created on first start and reused after.
    Stops cleanly on Ctrl-C or SIGTERM: turns in flight finish, and every event
    already acknowledged reaches its agent (now or at the next start).
    """
    from ._config import load_config
    from ._serve import serve as run

    def say(line: str) -> None:
        click.echo(f"memvisor: {line}", err=True)

    with user_errors():
        config = load_config(config_path)
        anyio.run(lambda: run(config, home, say=say), backend="trio")
