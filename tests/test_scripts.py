"""The benchmark scripts run and print the JSON they promise (sizes shrunk by --quick)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

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


def run_script(script: str, *args: str) -> dict[str, Any]:
    """Run ``scripts/SCRIPT ARGS…``; it must succeed and print one JSON object."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / script), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    figures: dict[str, Any] = json.loads(result.stdout)  # the script's JSON, as printed
    return figures


@pytest.mark.parametrize("backend", ["trio", "asyncio"])
def test_bench_runtime_prints_one_json_object_with_every_figure(
    backend: str, tmp_path: Path
) -> None:
    figures = run_script(
        "bench_runtime.py", "--quick", "--backend", backend, "--tmpdir", str(tmp_path)
    )
    assert set(figures) >= RUNTIME_KEYS
    assert all(figures[key] > 0 for key in RUNTIME_KEYS)
    assert figures["backend"] == backend


LOCOMO = ROOT.parent / "shared" / "data" / "locomo" / "locomo_dev.json"


@pytest.mark.skipif(not LOCOMO.exists(), reason="../shared/data/locomo is not beside the project")
def test_eval_locomo_prints_recall_and_mrr_for_both_searches(tmp_path: Path) -> None:
    # One conversation, full-text archival: the shape and sanity of the report, in seconds.
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "eval_locomo.py"),
            "--limit",
            "1",
            "--no-embedder",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["conversations"] == 1
    assert report["questions"] > 100
    for search in ("conversation_search", "archival_memory_search"):
        overall = report[search]["overall"]
        assert set(overall) == {"recall@1", "recall@5", "recall@10", "mrr"}
        assert 0 < overall["recall@1"] <= overall["recall@5"] <= overall["recall@10"] <= 1
        assert set(report[search]["by_category"]) <= {"1", "2", "3", "4", "5"}


def test_bench_agent_prints_overheads_throughputs_and_the_cli_time(tmp_path: Path) -> None:
    figures = run_script("bench_agent.py", "--quick", "--tmpdir", str(tmp_path))
    assert set(figures) >= {
        "overhead_ms",
        "llm_ms",
        "steps_per_s",
        "steps_per_s_100_agents",
        "cli_send_seconds",
        "durability",
    }
    for table in ("overhead_ms", "llm_ms"):
        assert set(figures[table]) == {"inprocess", "http"}
        assert set(figures[table]["inprocess"]) == {"20", "600", "recall_2000"}
        assert set(figures[table]["http"]) == {"20", "600"}
        for by_history in figures[table].values():
            assert all(set(p) == {"p50", "p95"} for p in by_history.values())
    assert set(figures["steps_per_s"]["inprocess"]) == {"20", "600", "recall_2000"}
    assert set(figures["steps_per_s"]["http"]) == {"20", "600"}
    for by_history in figures["steps_per_s"].values():
        assert all(rate > 0 for rate in by_history.values())
    assert figures["steps_per_s_100_agents"] > 0
    assert figures["cli_send_seconds"] > 0
    assert figures["durability"] == "normal"


def test_bench_replay_checks_a_recorded_run_and_times_the_tools(tmp_path: Path) -> None:
    figures = run_script("bench_replay.py", "--quick", "--tmpdir", str(tmp_path))
    rates = {
        "fold_events_per_s",
        "check_steps_per_s",
        "check_seconds",
        "cli_check_seconds",
        "report_seconds",
        "report_bytes",
        "prompt_store_bytes_per_step",
        "record_steps_per_s",
    }
    assert set(figures) == rates | {"turns", "events", "steps"}
    assert all(figures[key] > 0 for key in rates)
    assert figures["turns"] == 300
    assert figures["steps"] > figures["turns"]  # core-memory edits and searches step twice
    assert figures["events"] > 5 * figures["turns"]
