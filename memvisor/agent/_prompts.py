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

__all__ = ["PromptName", "default_prompt", "prompt_path"]

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
