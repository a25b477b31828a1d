"""scripts/bench_sources.py (the webhook part) runs and prints the figures it promises."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
WEBHOOK_KEYS = {"webhook_events_per_s", "webhook_p50_ms", "webhook_p99_ms"}


def test_bench_sources_prints_the_webhook_figures() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_sources.py"), "--quick", "--posts", "300"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert set(figures) >= WEBHOOK_KEYS
    assert all(figures[key] > 0 for key in WEBHOOK_KEYS)
    assert figures["webhook_accepted"] == figures["webhook_posts"] == 300
