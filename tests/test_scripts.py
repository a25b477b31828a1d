"""The benchmark scripts run and print the JSON they promise (sizes shrunk by --quick)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUNTIME_KEYS = {
    "tell_per_s",
    "raw_stream_per_s",
    "tell_vs_raw",
    "ask_roundtrips_per_s",
    "append_per_s_full",
    "append_per_s_normal",
    "raw_sqlite_per_s",
    "append_normal_vs_raw",
    "replay_events_per_s",
}


@pytest.mark.parametrize("backend", ["trio", "asyncio"])
def test_bench_runtime_prints_one_json_object_with_every_figure(
    backend: str, tmp_path: Path
) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "bench_runtime.py"),
            "--quick",
            "--backend",
            backend,
            "--tmpdir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert set(figures) >= RUNTIME_KEYS
    assert all(figures[key] > 0 for key in RUNTIME_KEYS)
    assert figures["backend"] == backend
