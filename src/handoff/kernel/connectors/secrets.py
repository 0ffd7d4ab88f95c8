"""Secrets for outside systems: from `HANDOFF_*` environment variables or a secrets file.

The file (`HANDOFF_SECRETS_FILE`) is YAML or `KEY=VALUE` lines, keyed by the same names as the
environment variables; the environment wins. A connector's secrets may be set per scope (a selling
entity): `HANDOFF_XERO_ACME_DE_CLIENT_ID` is entity ACME-DE's own `HANDOFF_XERO_CLIENT_ID`, and a
scope without its own value uses the shared one (`Secrets.scoped`). A secret is wrapped in `Secret`, whose `repr` and
`str` are masked, so a secret never reaches a log line, an exception message or a traceback by
accident; `reveal()` is the one explicit way to read it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml


class SecretsError(Exception):
    """The secrets file cannot be read or is not a flat mapping of names to values."""


class Secret:
    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def _read_file(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SecretsError(f"{path}: cannot read secrets file: {exc.strerror}") from exc
    if all("=" in ln or not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()) and "=" in text:
        pairs = (ln.split("=", 1) for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#"))
        return {k.strip(): v.strip().strip('"').strip("'") for k, v in pairs}
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        raise SecretsError(f"{path}: not YAML and not KEY=VALUE lines") from None  # no content in the message
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(v, str | int) for v in data.values()):
        raise SecretsError(f"{path}: must be a flat mapping of names to text values")
    return {str(k): str(v) for k, v in data.items()}


def scope_key(scope: str) -> str:
    """A scope (a selling entity's code) as it is written in a variable's name: upper case, letters
    and digits, anything else as `_` (`ACME-DE` -> `ACME_DE`)."""
    return re.sub(r"[^A-Z0-9]+", "_", scope.upper()).strip("_")


class Secrets:
    """Settings and secrets for connectors, by `HANDOFF_*` name. Plain settings (URLs, ids) come
    through `get`; anything secret through `secret`, which wraps it."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)

    @classmethod
    def load(cls, env: Mapping[str, str]) -> Secrets:
        values: dict[str, str] = {}
        if env.get("HANDOFF_SECRETS_FILE"):
            values.update(_read_file(Path(env["HANDOFF_SECRETS_FILE"])))
        values.update({k: v for k, v in env.items() if k.startswith("HANDOFF_")})
        return cls(values)

    def get(self, name: str, default: str = "") -> str:
        return self._values.get(name, default) or default

    def secret(self, name: str) -> Secret | None:
        value = self._values.get(name, "")
        return Secret(value) if value else None

    def has(self, *names: str) -> bool:
        return all(self._values.get(n) for n in names)

    def own_name(self, prefix: str, scope: str, name: str) -> str:
        """The variable holding `scope`'s own `{prefix}_{name}`: `{prefix}_{SCOPE}_{name}`."""
        return f"{prefix}_{scope_key(scope)}_{name}"

    def scoped(self, prefix: str, scope: str, names: Sequence[str]) -> Secrets | None:
        """These secrets as one scope (a selling entity) sees them: each of `names` under `prefix` is
        the scope's own (`{prefix}_{SCOPE}_{name}`) where that is set, else the shared `{prefix}_{name}`.
        None when the scope has none of its own: it shares the connector's."""
        own = {
            f"{prefix}_{n}": self._values[v] for n in names if self._values.get(v := self.own_name(prefix, scope, n))
        }
        return Secrets({**self._values, **own}) if own else None

    def __repr__(self) -> str:
        return f"Secrets({len(self._values)} names)"
