"""The rule sets ship with handoff (package data, with their licences and releases); another
release is installed from a folder or an archive after it compiles, and takes precedence until
reset. Tests use ../shared/oracles only as the source of "another release" (Peppol 2025.5)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from handoff.cli import app
from handoff.invoicing.documents import render, rulesets, validation
from handoff.invoicing.documents.rulesets import PACKAGED, RuleSetError
from tests.corpus import build_corpus

PEPPOL_2025 = "peppol/phive-rules-peppol-legacy/src/main/resources/external/schematron/openpeppol/2025.5"


@pytest.fixture
def rules_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "rules"
    monkeypatch.setenv("HANDOFF_RULES_DIR", str(folder))
    return folder


def test_the_shipped_rule_sets_carry_their_licence_and_release() -> None:
    assert rulesets.versions(Path("/nonexistent")) == {
        "en16931": "1.3.16",
        "peppol": "2026.5",
        "xrechnung": "3.0.2",
        "xsd-ubl": "UBL 2.1",
        "xsd-cii": "CII D16B",
    }
    assert (PACKAGED / "en16931" / "LICENSE.txt").read_text().count("European Union Public Licence") >= 1
    assert "Apache License" in (PACKAGED / "peppol" / "LICENSE").read_text()
    assert "Apache License" in (PACKAGED / "xrechnung" / "LICENSE").read_text()
    assert (PACKAGED / "xsd" / "ubl" / "LICENSE-OASIS-notices.txt").is_file()
    assert (PACKAGED / "VERSIONS.md").is_file()
    for kind in rulesets.SCHEMAS:
        assert rulesets.schema(kind).is_file()


def test_rules_versions_prints_what_is_in_force(rules_dir: Path) -> None:
    result = CliRunner().invoke(app, ["rules", "versions"])
    assert result.exit_code == 0, result.output
    for expected in ("en16931", "1.3.16", "peppol", "2026.5", "xrechnung", "3.0.2", "UBL 2.1", "CII D16B"):
        assert expected in result.output


def test_another_release_is_installed_used_and_reset(rules_dir: Path, oracles: Path) -> None:
    ubl = render(build_corpus()["domestic_standard"], "ubl")
    result = CliRunner().invoke(app, ["rules", "install", str(oracles / PEPPOL_2025), "--set", "peppol"])
    assert result.exit_code == 0, result.output
    installed = rulesets.rule_set("peppol")
    assert (installed.version, installed.installed) == ("2025.5", True)
    assert (rules_dir / "peppol" / "PEPPOL-EN16931-UBL.xslt").is_file()
    assert validation.check(ubl, peppol=True).rule_sets["peppol"] == "2025.5"

    result = CliRunner().invoke(app, ["rules", "reset", "--set", "peppol"])
    assert result.exit_code == 0, result.output
    assert rulesets.rule_set("peppol").version == "2026.5"
    assert validation.check(ubl, peppol=True).rule_sets["peppol"] == "2026.5"


def test_a_release_is_installed_from_an_archive(rules_dir: Path, oracles: Path, tmp_path: Path) -> None:
    archive = tmp_path / "peppol-2025.5.zip"
    source = oracles / PEPPOL_2025
    with zipfile.ZipFile(archive, "w") as z:
        for file in source.rglob("*"):
            z.write(file, Path("2025.5") / file.relative_to(source))
    installed = rulesets.install(archive, "peppol", validation.compile_stylesheet)
    assert installed.version == "2025.5"


def test_a_stylesheet_that_does_not_compile_replaces_nothing(rules_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "2099.1" / "xslt"
    broken.mkdir(parents=True)
    (broken / "PEPPOL-EN16931-UBL.xslt").write_text("<xsl:stylesheet>not xslt</xsl:stylesheet>")
    result = CliRunner().invoke(app, ["rules", "install", str(tmp_path / "2099.1"), "--set", "peppol"])
    assert result.exit_code == 2
    assert "does not compile" in " ".join(result.output.split())
    assert rulesets.rule_set("peppol").version == "2026.5"
    assert not (rules_dir / "peppol").exists()


def test_install_names_what_is_missing(rules_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(RuleSetError, match=r"XRechnung-CII-validation\.xslt not found"):
        (tmp_path / "XRechnung-UBL-validation.xslt").write_text("x")
        rulesets.install(tmp_path, "xrechnung", validation.compile_stylesheet)
    with pytest.raises(RuleSetError, match="unknown rule set 'zugferd'"):
        rulesets.install(tmp_path, "zugferd", validation.compile_stylesheet)
