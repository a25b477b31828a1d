"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
import random

import pytest


@pytest.fixture(params=["trio", "asyncio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run every ``@pytest.mark.anyio`` test on trio and on asyncio."""
    backend: str = request.param
    return backend


@pytest.fixture
def rng() -> random.Random:
    """A seeded random generator; the seed is printed (shown when a test fails).

    Set ``MEMVISOR_TEST_SEED`` to replay a failing run.
    """
    seed = int(os.environ.get("MEMVISOR_TEST_SEED") or random.randrange(2**32))
    print(f"random seed: MEMVISOR_TEST_SEED={seed}")
    return random.Random(seed)
