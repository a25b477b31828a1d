"""Each public package exports exactly its curated API, sorted, from public module paths."""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

PACKAGES = [
    "memvisor",
    "memvisor.events",
    "memvisor.actors",
    "memvisor.memory",
    "memvisor.llm",
    "memvisor.agent",
    "memvisor.sim",
    "memvisor.sources",
]


def _public_names(module: ModuleType) -> set[str]:
    """Every public name, including those a package imports lazily (its ``__dir__`` lists
    them; ``getattr`` imports them)."""
    return {
        name
        for name in dir(module)
        if not name.startswith("_") and not isinstance(getattr(module, name), ModuleType)
    }


@pytest.mark.parametrize("name", PACKAGES)
def test_all_lists_every_public_member_in_sorted_order(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported, key=lambda n: (not n.isupper(), n))
    assert set(exported) == _public_names(module)


@pytest.mark.parametrize("name", PACKAGES)
def test_exported_classes_and_functions_claim_the_public_module(name: str) -> None:
    module = importlib.import_module(name)
    for member in module.__all__:
        value = getattr(module, member)
        if isinstance(value, type) or callable(value):
            owner = getattr(value, "__module__", name)
            assert not owner.startswith(f"{name}._"), f"{name}.{member} claims {owner}"
