"""The audit chain's keys from the settings: the current key from HANDOFF_AUDIT_KEY or a key file
(first line current, further lines retired), retired keys from HANDOFF_AUDIT_PREVIOUS_KEYS, the
key file beside a SQLite database for local use; errors name the setting, never the key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from handoff.kernel.audit import AuditKey
from handoff.kernel.audit_keys import load_audit_keys
from handoff.kernel.connectors.secrets import SecretsError

A, B, C = ("a" * 40, "b" * 40, "c" * 40)


def test_current_and_retired_keys_from_the_environment() -> None:
    keys = load_audit_keys({"HANDOFF_AUDIT_KEY": A, "HANDOFF_AUDIT_PREVIOUS_KEYS": f"{B}, {C}"})
    assert keys.current == AuditKey.of(A)
    assert keys.ids == (AuditKey.of(B).id, AuditKey.of(C).id, AuditKey.of(A).id)
    assert A not in repr(keys) and len(keys.current.id) == 16 and keys.current.id != AuditKey.of(B).id
    assert load_audit_keys({}).current is None


def test_a_key_file_holds_the_current_key_first_then_retired_ones(tmp_path: Path) -> None:
    file = tmp_path / "audit.key"
    file.write_text(f"# rotated 2026-12-01\n{B}\n\n{A}\n")
    keys = load_audit_keys({"HANDOFF_AUDIT_KEY_FILE": str(file)})
    assert keys.current == AuditKey.of(B) and keys.previous == (AuditKey.of(A),)


def test_a_sqlite_database_finds_the_key_file_beside_it(tmp_path: Path) -> None:
    db = tmp_path / "handoff.db"
    assert load_audit_keys({}, f"sqlite:///{db}").current is None
    (tmp_path / "handoff.db.audit-key").write_text(A + "\n")
    assert load_audit_keys({}, f"sqlite:///{db}").current == AuditKey.of(A)
    assert load_audit_keys({"HANDOFF_AUDIT_KEY": B}, f"sqlite:///{db}").current == AuditKey.of(B)  # the setting wins
    assert load_audit_keys({}, "postgresql://db/handoff").current is None


@pytest.mark.parametrize(
    "env,named",
    [
        ({"HANDOFF_AUDIT_KEY": "short-secret"}, "HANDOFF_AUDIT_KEY: an audit key must have at least 32"),
        ({"HANDOFF_AUDIT_KEY": A, "HANDOFF_AUDIT_PREVIOUS_KEYS": "tiny"}, "HANDOFF_AUDIT_PREVIOUS_KEYS"),
        ({"HANDOFF_AUDIT_KEY": A, "HANDOFF_AUDIT_KEY_FILE": "/x"}, "not both"),
        ({"HANDOFF_AUDIT_KEY_FILE": "/nonexistent/audit.key"}, "cannot read the audit key file"),
    ],
)
def test_a_wrong_setting_is_named_without_its_value(env: dict[str, str], named: str) -> None:
    with pytest.raises(SecretsError) as err:
        load_audit_keys(env)
    assert named in str(err.value) and "short-secret" not in str(err.value) and "tiny" not in str(err.value)


def test_entries_and_checkpoints_carry_plain_hmac_sha256_under_the_key() -> None:
    """Anyone holding the key can check an entry with any HMAC tool (RFC 2104, SHA-256)."""
    import hashlib
    import hmac

    from handoff.kernel.audit import GENESIS, AuditEntry, _canonical, entry_hash, sign_checkpoint

    key = AuditKey.of(A)
    entry = AuditEntry(
        1, "2026-11-01T00:00:00+00:00", "anna@x", "order.updated", "order", "D-1", "", None, None, GENESIS
    )
    assert entry_hash(entry) == hashlib.sha256(_canonical(entry)).hexdigest()  # scheme 1, as before keying
    keyed = dataclasses.replace(entry, key_id=key.id)
    assert entry_hash(keyed, key) == hmac.digest(A.encode(), _canonical(keyed), "sha256").hex()
    assert entry_hash(keyed, key) != entry_hash(keyed, AuditKey(key.id, B.encode()))  # the id alone proves nothing
    signed = sign_checkpoint(key, 1, entry_hash(keyed, key), "2026-11-01T00:00:00+00:00")
    assert signed.signature == hmac.digest(A.encode(), signed.signed(), "sha256").hex()
