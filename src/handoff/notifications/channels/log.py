"""The log channel: one JSON line per notice, to a file or to Python logging."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

logger = logging.getLogger("handoff.notices")


class LogChannel:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path

    def deliver(self, key: str, payload: Mapping[str, Any]) -> None:
        line = json.dumps({"key": key, **{k: v for k, v in payload.items() if k != "html"}}, ensure_ascii=False)
        if self.path is None:
            logger.info(line)
            return
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")
