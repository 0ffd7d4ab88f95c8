"""Signed checkpoints of the audit chain as files in a directory (`HANDOFF_AUDIT_CHECKPOINTS`).

One JSON file per checkpoint, `audit-checkpoint-<seq>-<time>.json`, holding `seq`, `hash`, `at`,
`key_id` and `signature` (`kernel.audit.Checkpoint`); written to a temporary name and renamed, so a
reader never sees half a file. The directory should be somewhere the database's writers cannot
rewrite: another machine's mount, a bucket with object lock, a host that copies it away.
A file that is not a checkpoint is reported by name, never skipped: a damaged checkpoint is news.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

from handoff.kernel.audit import Checkpoint

PREFIX = "audit-checkpoint-"


class CheckpointError(Exception):
    """A checkpoint directory or file that cannot be read."""


class CheckpointDirectory:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __repr__(self) -> str:
        return f"CheckpointDirectory({str(self.path)!r})"

    def _files(self) -> list[Path]:
        return sorted(self.path.glob(f"{PREFIX}*.json"))  # by name: by position in the chain, then time

    def read(self) -> list[Checkpoint]:
        """Every checkpoint in the directory, oldest chain position first."""
        if not self.path.is_dir():
            raise CheckpointError(f"{self.path}: no such checkpoint directory")
        return [_load(file) for file in self._files()]

    def newest(self) -> Checkpoint | None:
        """The checkpoint furthest along the chain (None: none yet)."""
        files = self._files() if self.path.is_dir() else []
        return _load(files[-1]) if files else None

    def publish(self, checkpoint: Checkpoint) -> Path:
        self.path.mkdir(parents=True, exist_ok=True)
        stamp = datetime.fromisoformat(checkpoint.at).strftime("%Y%m%dT%H%M%S%fZ")
        file = self.path / f"{PREFIX}{checkpoint.seq:012d}-{stamp}.json"
        partial = file.with_suffix(".tmp")
        with open(partial, "w", encoding="utf-8") as out:
            json.dump(checkpoint.as_json(), out, sort_keys=True)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, file)
        return file


def _load(file: Path) -> Checkpoint:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        return Checkpoint(
            int(data["seq"]), str(data["hash"]), str(data["at"]), str(data["key_id"]), str(data["signature"])
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{file}: not a readable audit checkpoint ({type(exc).__name__})") from None
