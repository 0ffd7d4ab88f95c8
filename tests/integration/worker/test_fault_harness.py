"""The fault harness at CI size on PostgreSQL: deliveries 1 to 5 times and out of order, killed
workers, a flaky accounting system. The harness asserts its own checks; here we also check that
it really exercised the faults."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parents[3] / "bench" / "fault_harness.py"


@pytest.mark.slow
@pytest.mark.postgres
def test_nothing_lost_nothing_twice_with_killed_workers() -> None:
    if os.environ.get("HANDOFF_TEST_SKIP_PG") == "1":
        pytest.skip("HANDOFF_TEST_SKIP_PG=1")
    spec = importlib.util.spec_from_file_location("fault_harness", HARNESS)
    assert spec is not None and spec.loader is not None
    harness = importlib.util.module_from_spec(spec)
    sys.modules["fault_harness"] = harness  # dataclasses look their module up here
    spec.loader.exec_module(harness)
    result = harness.main(["--events", "400", "--workers", "2", "--kills", "3", "--timeout", "300"])
    assert result["kills"] == 3 and result["stand_in_failures"] > 0
    assert result["deliveries"] > result["events"]
    assert all(v is True for k, v in result.items() if k.startswith("ok_"))
