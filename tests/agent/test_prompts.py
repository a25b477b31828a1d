"""The replaceable prompt files, and the agent_created event built from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from memvisor import ConfigError
from memvisor.agent import default_prompt, new_agent, prompt_path


def test_a_users_file_replaces_memvisors_prompt(tmp_path: Path) -> None:
    shipped = default_prompt("persona")
    assert shipped
    assert default_prompt("persona", home=tmp_path) == shipped
    prompt_path(tmp_path, "persona").parent.mkdir()
    prompt_path(tmp_path, "persona").write_text("  I am Ada.\n")
    assert default_prompt("persona", home=tmp_path) == "I am Ada."


def test_an_unreadable_prompt_file_is_a_config_error(tmp_path: Path) -> None:
    prompt_path(tmp_path, "system").parent.mkdir()
    prompt_path(tmp_path, "system").write_bytes(b"\xff\xfe not utf-8")
    with pytest.raises(ConfigError, match="cannot read the system prompt"):
        default_prompt("system", home=tmp_path)


def test_new_agent_fills_what_is_not_given_and_keeps_what_is(tmp_path: Path) -> None:
    prompt_path(tmp_path, "human").parent.mkdir()
    prompt_path(tmp_path, "human").write_text("Bob.")
    created = new_agent(
        "ada", at=1.0, persona="", system="Be brief.", tags=("shop",), home=tmp_path
    )
    assert (created.agent, created.seq, created.at) == ("ada", 1, 1.0)
    assert created.system == "Be brief."
    assert [(b.label, b.value) for b in created.blocks] == [("persona", ""), ("human", "Bob.")]
    assert created.tags == ("shop",)
    assert created.context_window == 8192
