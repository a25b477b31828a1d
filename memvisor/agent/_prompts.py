"""The system prompt and the default persona and human: text files a user can replace.

```
lookup order for "system", "persona", "human":
  HOME/prompts/<name>.txt      (the user's own, if present)
  memvisor/agent/prompts/<name>.txt   (shipped with memvisor)
```

The text is read when an agent is created and written into its ``agent_created``
event: the log, not the file, is what the agent runs on, so editing a file later
changes new agents only (and replays stay exact).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

from .._exceptions import ConfigError
from ..events import AgentCreated, BlockSpec

__all__ = ["PromptName", "default_prompt", "new_agent", "prompt_path"]

PromptName = Literal["system", "persona", "human"]


def prompt_path(home: Path, name: PromptName) -> Path:
    """Where a user's replacement for prompt ``name`` goes."""
    return home / "prompts" / f"{name}.txt"


def default_prompt(name: PromptName, *, home: Path | None = None) -> str:
    """The text of prompt ``name``: the user's file in ``home`` if any, else memvisor's.

    Raises:
        ConfigError: the user's file exists but cannot be read as UTF-8 text.
    """
    if home is not None:
        custom = prompt_path(home, name)
        if custom.exists():
            try:
                return custom.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"cannot read the {name} prompt at {custom}: {exc}") from exc
    shipped = resources.files(__package__).joinpath("prompts", f"{name}.txt")
    return shipped.read_text(encoding="utf-8").strip()


def new_agent(
    name: str,
    *,
    at: float,
    model: str | None = None,
    persona: str | None = None,
    human: str | None = None,
    system: str | None = None,
    context_window: int = 8192,
    tags: tuple[str, ...] = (),
    home: Path | None = None,
) -> AgentCreated:
    """The ``agent_created`` event that starts agent ``name``'s log (seq 1).

    A text left ``None`` is :func:`default_prompt`'s (the user's file in ``home``,
    else memvisor's); an empty string stays empty.

    Raises:
        ConfigError: a prompt file in ``home`` cannot be read.
    """
    return AgentCreated(
        agent=name,
        seq=1,
        at=at,
        model=model,
        system=default_prompt("system", home=home) if system is None else system,
        blocks=(
            BlockSpec(
                label="persona",
                value=default_prompt("persona", home=home) if persona is None else persona,
            ),
            BlockSpec(
                label="human",
                value=default_prompt("human", home=home) if human is None else human,
            ),
        ),
        context_window=context_window,
        tags=tags,
    )
