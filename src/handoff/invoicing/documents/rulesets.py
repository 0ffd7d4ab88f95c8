"""Where the e-invoice rule sets live, which release is in force, and how another is installed.

The official artefacts ship with handoff as package data (`handoff/invoicing/rules/`, see its
`VERSIONS.md`): EN 16931 (UBL and CII), Peppol BIS Billing 3.0, XRechnung, and the UBL 2.1 and
CII D16B XML schemas. A newer (or older) release of a schematron rule set is installed with
`install` (`handoff rules install`) into the rules directory (`HANDOFF_RULES_DIR`, by default
`$XDG_DATA_HOME/handoff/rules`), which then takes precedence over the shipped copy. An install
is checked first: every stylesheet of the set must compile with Saxon, or nothing is replaced.
"""

from __future__ import annotations

import os
import re
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PACKAGED = Path(__file__).resolve().parent.parent / "rules"

# The stylesheets of each schematron rule set, by syntax.
SETS: dict[str, dict[str, str]] = {
    "en16931": {"ubl": "EN16931-UBL-validation.xslt", "cii": "EN16931-CII-validation.xslt"},
    "peppol": {"ubl": "PEPPOL-EN16931-UBL.xslt"},
    "xrechnung": {"ubl": "XRechnung-UBL-validation.xslt", "cii": "XRechnung-CII-validation.xslt"},
}
SCHEMAS = {
    "ubl-invoice": "xsd/ubl/maindoc/UBL-Invoice-2.1.xsd",
    "ubl-credit-note": "xsd/ubl/maindoc/UBL-CreditNote-2.1.xsd",
    "cii": "xsd/cii/uncefact/data/standard/CrossIndustryInvoice_100pD16B.xsd",
}
SCHEMA_VERSIONS = {"ubl": "UBL 2.1", "cii": "CII D16B"}
_LICENCE = re.compile(r"^(LICEN[CS]E|NOTICE|COPYING)", re.IGNORECASE)
_RELEASE = re.compile(r"^\d+(\.\d+)+$")


class RuleSetError(ValueError):
    """A rule set that cannot be installed (unknown name, files missing, stylesheet not compiling)."""


@dataclass(frozen=True, slots=True)
class RuleSet:
    name: str
    version: str
    folder: Path
    installed: bool  # from the rules directory rather than shipped with handoff

    def stylesheet(self, syntax: str) -> Path | None:
        file = SETS[self.name].get(syntax)
        return self.folder / file if file else None


def rules_dir() -> Path:
    """Where installed rule sets go: `HANDOFF_RULES_DIR`, else `$XDG_DATA_HOME/handoff/rules`."""
    explicit = os.environ.get("HANDOFF_RULES_DIR")
    if explicit:
        return Path(explicit)
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "handoff" / "rules"


def _version(folder: Path) -> str:
    file = folder / "VERSION"
    return file.read_text(encoding="utf-8").strip() if file.is_file() else "unknown"


def rule_set(name: str, directory: Path | None = None) -> RuleSet:
    """The release of `name` in force: the installed one when there is one, else the shipped one."""
    if name not in SETS:
        raise RuleSetError(f"unknown rule set {name!r}: expected one of {', '.join(SETS)}")
    installed = (directory or rules_dir()) / name
    if (installed / "VERSION").is_file():
        return RuleSet(name, _version(installed), installed, True)
    return RuleSet(name, _version(PACKAGED / name), PACKAGED / name, False)


def schema(kind: str) -> Path:
    return PACKAGED / SCHEMAS[kind]


def versions(directory: Path | None = None) -> dict[str, str]:
    """Every rule set and schema in force with its release: what a validation report records."""
    found = {name: rule_set(name, directory).version for name in SETS}
    return found | {f"xsd-{k}": v for k, v in SCHEMA_VERSIONS.items()}


def _unpack(source: Path, into: Path) -> Path:
    if source.is_dir():
        return source
    if zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as archive:
            for member in archive.namelist():
                if member.startswith("/") or ".." in Path(member).parts:
                    raise RuleSetError(f"{source}: unsafe path {member!r} in the archive")
            archive.extractall(into)
        return into
    if tarfile.is_tarfile(source):
        with tarfile.open(source) as archive:
            archive.extractall(into, filter="data")
        return into
    raise RuleSetError(f"{source} is neither a folder nor a zip or tar archive")


def _find(root: Path, file: str) -> Path:
    hits = sorted(root.rglob(file))
    if not hits:
        raise RuleSetError(f"{file} not found under {root}")
    if len(hits) > 1:
        raise RuleSetError(f"{file} found {len(hits)} times under {root}: point at one release")
    return hits[0]


def _release_of(stylesheet: Path) -> str:
    """The release a stylesheet's path names (`.../2025.5/xslt/X.xslt` -> 2025.5), if any."""
    for part in reversed(stylesheet.parent.parts):
        if _RELEASE.match(part):
            return part
    return ""


def install(
    source: Path,
    name: str,
    compile_check: Callable[[Path], None],
    version: str | None = None,
    directory: Path | None = None,
) -> RuleSet:
    """Install the rule set `name` from a folder or archive: find its stylesheets, check that each
    compiles (`compile_check` raises otherwise), then replace the installed copy in one rename.
    The licence files found beside or above the stylesheets go with them."""
    if name not in SETS:
        raise RuleSetError(f"unknown rule set {name!r}: expected one of {', '.join(SETS)}")
    target_root = directory or rules_dir()
    target_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target_root) as work:
        root = _unpack(source.resolve(), Path(work) / "unpacked")
        found = {syntax: _find(root, file) for syntax, file in SETS[name].items()}
        for path in found.values():
            try:
                compile_check(path)
            except Exception as exc:
                raise RuleSetError(f"{path.name} of {source} does not compile: {exc}") from exc
        release = version or _release_of(next(iter(found.values())))
        if not release:
            raise RuleSetError(f"cannot tell the release of {source}: give it with --version")
        staged = Path(work) / name
        staged.mkdir()
        for path in found.values():
            shutil.copyfile(path, staged / path.name)
        folder = next(iter(found.values())).parent
        for level in (folder, *folder.parents):
            for licence in (p for p in level.iterdir() if p.is_file() and _LICENCE.match(p.name)):
                if not (staged / licence.name).exists():
                    shutil.copyfile(licence, staged / licence.name)
            if level == root:
                break
        (staged / "VERSION").write_text(release + "\n", encoding="utf-8")
        current = target_root / name
        retired = Path(work) / "retired"
        if current.exists():
            current.rename(retired)
        staged.rename(current)
    return rule_set(name, target_root)


def uninstall(name: str, directory: Path | None = None) -> RuleSet:
    """Remove the installed copy of `name`: the release shipped with handoff is in force again."""
    shutil.rmtree((directory or rules_dir()) / name, ignore_errors=True)
    return rule_set(name, directory)
