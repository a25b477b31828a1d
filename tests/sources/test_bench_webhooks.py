"""scripts/bench_sources.py runs (sizes shrunk) and prints the figures it promises."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
WEBHOOK_KEYS = {
    "webhook_events_per_s",
    "webhook_p50_ms",
    "webhook_p99_ms",
    "webhook_accept_per_s",
    "webhook_paced_rate",
    "webhook_paced_p50_ms",
    "webhook_paced_p99_ms",
    "webhook_server_accepted_per_s",
    "webhook_server_p50_ms",
    "webhook_server_p99_ms",
}


def test_bench_sources_prints_the_webhook_and_simulation_figures() -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "bench_sources.py"),
            "--quick",
            "--posts",
            "300",
            "--agents",
            "3",
            "--sim-sizes",
            "20,50",
            "--sim-duration",
            "2h",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert set(figures) >= WEBHOOK_KEYS | {"sim_steps_per_s", "sim_peak_rss_mb"}
    assert all(figures[key] > 0 for key in WEBHOOK_KEYS), figures
    # Through the real stack: every post accepted (429s are retried), none failed.
    assert figures["webhook_accepted"] == figures["webhook_posts"] == 300
    assert figures["webhook_failed"] == 0
    assert figures["webhook_agents"] == 3
    for key in ("sim_steps_per_s", "sim_peak_rss_mb"):
        assert set(figures[key]) == {"20", "50"}
        assert all(value > 0 for value in figures[key].values()), figures[key]
