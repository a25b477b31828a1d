"""Importing the CLI or a package loads no heavy library (LanceDB, the openai SDK, ...).

Each waits for the first use of what needs it.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

import memvisor.memory

HEAVY = ["lancedb", "pyarrow", "numpy", "openai", "sentence_transformers", "torch"]
LIGHT = ["memvisor.cli", "memvisor.memory", "memvisor.events", "memvisor.llm"]


def _modules_loaded_by(code: str) -> set[str]:
    """The names in ``sys.modules`` after ``code`` runs in a fresh interpreter."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    loaded: list[str] = json.loads(out.stdout.splitlines()[-1])
    return set(loaded)


def test_importing_the_cli_and_the_packages_loads_no_heavy_library() -> None:
    loaded = _modules_loaded_by("".join(f"import {name}\n" for name in LIGHT))
    assert set(LIGHT) <= loaded
    assert [name for name in HEAVY if name in loaded] == []


def test_the_probe_sees_heavy_libraries_once_archival_memory_is_used() -> None:
    loaded = _modules_loaded_by("from memvisor.memory import open_archival")
    assert {"lancedb", "pyarrow", "numpy"} <= loaded


@pytest.mark.parametrize(("name", "module"), sorted(memvisor.memory._LAZY.items()))
def test_a_lazy_name_is_the_object_its_module_defines(name: str, module: str) -> None:
    defining = importlib.import_module(module, "memvisor.memory")
    assert getattr(memvisor.memory, name) is getattr(defining, name)
    assert name in dir(memvisor.memory)
    assert name in memvisor.memory.__all__


def test_a_name_the_package_lacks_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        _ = memvisor.memory.nonexistent  # type: ignore[attr-defined]
