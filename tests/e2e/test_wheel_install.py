"""The wheel carries everything validation needs at run time: built from the repository, installed
into a fresh virtualenv and run from an empty folder (no repository, no ../shared beside it), it
issues an invoice whose e-invoice is validated against the rule sets shipped inside it.

The fresh virtualenv takes handoff only from the wheel; its third-party dependencies come from the
test's own environment through a path entry (not its .pth files, so the repository's editable
install stays out), which keeps the test offline and well under two minutes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import csv, json, sys
    from dataclasses import replace
    from pathlib import Path

    import handoff
    from handoff.bootstrap import build_context
    from handoff.config import Settings
    from handoff.deals.formats import read_deal_file
    from handoff.deals.service.intake import ingest
    from handoff.invoicing.documents import rulesets
    from handoff.invoicing.repository.invoices import InvoiceRepository
    from handoff.invoicing.service.issuing import issue_all_drafts

    deal = {
        "deal_id": "D-1", "deal_name": "Platform licence", "stage": "closedwon", "close_date": "2026-10-30",
        "amount": "12000.00", "currency": "EUR", "customer_id": "C-1", "customer_legal_name": "Kestrel Labs GmbH",
        "customer_type": "business", "country": "DE", "vat_id": "DE136695976", "po_number": "PO-1",
        "requires_po": "true", "billing_email": "ap@kestrel.de", "billing_contact_name": "Anna Muller",
        "billing_street": "Hauptstrasse 1", "billing_city": "Berlin", "billing_postal_code": "10115",
        "payment_terms": "net30", "legal_entity": "ACME-DE", "owner_email": "",
        "invoice_format": "ubl", "peppol_id": "9930:DE136695976",
    }
    with open("deals.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(deal))
        writer.writeheader()
        writer.writerow(deal)
    ctx = build_context(replace(Settings.from_env(), database_url="sqlite:///handoff.db"))
    ingest(ctx, read_deal_file(Path("deals.csv"), source="crm-export"))
    failures = []
    issued = issue_all_drafts(ctx, "finance@acme.example", failures=failures)
    with ctx.engine.connect() as conn:
        report = InvoiceRepository(conn).validation_report(issued[0].number)
    print(json.dumps({
        "module": handoff.__file__, "rules": str(rulesets.PACKAGED), "failures": failures,
        "numbers": [inv.number for inv in issued], "report": report,
    }))
    """
)


@pytest.mark.wheel
@pytest.mark.slow
def test_the_installed_wheel_issues_and_validates_without_the_repository(tmp_path: Path) -> None:
    dist, venv, work = tmp_path / "dist", tmp_path / "venv", tmp_path / "empty" / "work"
    work.mkdir(parents=True)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", str(REPO), "--no-deps", "-w", str(dist)], check=True, timeout=180)
    (wheel,) = dist.glob("handoff-*.whl")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    subprocess.run([*pip, "--python", str(python), "install", "--no-deps", str(wheel)], check=True, timeout=120)
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    (site / "zz_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HANDOFF_", "PYTHON", "VIRTUAL_ENV"))} | {
        "HANDOFF_RULES_DIR": str(tmp_path / "rules")
    }
    done = subprocess.run([str(python), "-c", SCRIPT], cwd=work, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["module"].startswith(str(venv)), result["module"]  # the wheel's copy, not the repository
    assert Path(result["rules"], "peppol", "PEPPOL-EN16931-UBL.xslt").is_file()
    assert result["failures"] == [] and result["numbers"] == ["INV-DE-2026-000001"]
    report = result["report"]
    assert report["passed"] is True, report["findings"]
    assert report["rule_sets"] == {"xsd-ubl": "UBL 2.1", "en16931": "1.3.16", "peppol": "2026.5"}

    versions = subprocess.run(
        [str(python), "-c", "from handoff.cli import main; main()", "rules", "versions"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert versions.returncode == 0 and "2026.5" in versions.stdout, versions.stderr
