"""``memvisor sim SCENARIO.toml``: a population of agents in virtual time."""

from __future__ import annotations

from pathlib import Path

import click
import msgspec

from ._cli_support import user_errors

__all__ = ["sim"]


@click.command()
@click.argument("scenario", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the logs and summary.json (default: runs/NAME-SEED).",
)
@click.option("--scale", type=click.IntRange(min=1), help="Agents per group with a count.")
@click.option("--seed", type=int, help="Seed instead of the scenario's own.")
def sim(scenario: Path, out: Path | None, scale: int | None, seed: int | None) -> None:
    """Run SCENARIO (a TOML file, see examples/) in virtual time.

    Scripted agents run a week in seconds. Every agent's log goes to
    OUT/events.sqlite3 (read it with `memvisor --home OUT log NAME`), and a
    summary to OUT/summary.json and stdout. The same seed gives the same logs.
    """
    from .sim import load_scenario, run_scenario

    with user_errors():
        loaded = load_scenario(scenario, scale=scale)
        if seed is not None:
            loaded = msgspec.structs.replace(loaded, seed=seed)
        target = out or Path("runs") / f"{loaded.name}-{loaded.seed}"
        summary = run_scenario(loaded, target, progress=lambda line: click.echo(line, err=True))
    click.echo(msgspec.json.format(msgspec.json.encode(summary)).decode())
    click.echo(f"next: memvisor --home {target} log {loaded.all_names()[0]}", err=True)
