"""`handoff demo` previews a first dunning run long after the due dates (issue 16, item 3): it must show level 1
reminders only, since levels go out one at a time, whatever the days overdue when dunning starts."""

from __future__ import annotations

import io
import re
from pathlib import Path

from rich.console import Console

from handoff.demo.run import run_demo


def test_the_demo_previews_level_one_reminders_first(tmp_path: Path) -> None:
    buffer = io.StringIO()
    run_demo(tmp_path / "demo.db", Console(file=buffer, width=400, color_system=None))
    (line,) = [ln for ln in buffer.getvalue().splitlines() if ln.startswith("dunning preview")]
    found = re.search(r"(\d+) reminders, level 1 \(friendly\) (\d+);", line)
    assert found and found[1] == found[2] and int(found[1]) > 0, line
    assert "level 2" not in line and "level 3" not in line
