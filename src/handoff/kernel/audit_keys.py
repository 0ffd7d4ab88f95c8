"""The audit chain's keys, from the settings (never from the database they protect).

- `HANDOFF_AUDIT_KEY`: the key new entries and checkpoints are signed with (at least 32
  characters; `python -c "import secrets; print(secrets.token_hex(32))"`), in the environment or
  `HANDOFF_SECRETS_FILE`; or `HANDOFF_AUDIT_KEY_FILE`: a file whose first line is that key and
  whose further lines are retired keys (`#` comments and blank lines ignored).
- `HANDOFF_AUDIT_PREVIOUS_KEYS`: retired keys, separated by commas or white space, accepted when
  verifying (entries and checkpoints they signed), never used to sign.
- A SQLite database without either gets the key file `<database file>.audit-key` beside it when
  there is one (`handoff demo` writes it): for local use; production keeps its key elsewhere.
A key is named in the chain by its fingerprint (`AuditKey.of`), so nothing needs naming by hand.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from handoff.kernel.audit import AuditKey, AuditKeys
from handoff.kernel.connectors.secrets import Secrets, SecretsError

MIN_AUDIT_KEY = 32  # characters: a key is a secret, not a password
SIDECAR = ".audit-key"


def sidecar(database_url: str) -> Path | None:
    """The key file beside a SQLite database file (None for another engine or an in-memory one)."""
    try:
        url = make_url(database_url)
    except ArgumentError:
        return None
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database + SIDECAR)


def read_key_file(path: Path) -> list[str]:
    """The keys of a key file, current first."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SecretsError(f"{path}: cannot read the audit key file: {exc.strerror}") from None
    keys = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not keys:
        raise SecretsError(f"{path}: the audit key file holds no key")
    return keys


def load_audit_keys(env: Mapping[str, str], database_url: str = "") -> AuditKeys:
    """The keys the settings give (see the module's note); SecretsError naming the setting at fault,
    never the key."""
    s = Secrets.load(env)
    key, path = s.secret("HANDOFF_AUDIT_KEY"), s.get("HANDOFF_AUDIT_KEY_FILE")
    if key and path:
        raise SecretsError("set HANDOFF_AUDIT_KEY or HANDOFF_AUDIT_KEY_FILE, not both")
    found: list[tuple[str, str]] = []  # (where, key)
    if key:
        found.append(("HANDOFF_AUDIT_KEY", key.reveal().strip()))
    elif path:
        found += [(path, k) for k in read_key_file(Path(path))]
    elif (beside := sidecar(database_url)) is not None and beside.exists():
        found += [(str(beside), k) for k in read_key_file(beside)]
    current = found[0][1] if found else None
    retired = s.secret("HANDOFF_AUDIT_PREVIOUS_KEYS")
    found += [("HANDOFF_AUDIT_PREVIOUS_KEYS", k) for k in re.split(r"[\s,]+", retired.reveal()) if k] if retired else []
    for where, value in found:
        if len(value) < MIN_AUDIT_KEY:
            raise SecretsError(f"{where}: an audit key must have at least {MIN_AUDIT_KEY} characters")
    keys = [AuditKey.of(value) for _, value in found]
    return AuditKeys(keys[0] if current is not None else None, tuple(keys[1:] if current is not None else keys))
