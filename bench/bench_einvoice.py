"""Benchmark of the check made before an invoice is issued: its e-invoice rendered and validated
(`invoicing.service.einvoicing.check`) with the rule sets shipped with handoff, per invoice, at 10
and 50 lines, for each kind of buyer (Peppol UBL, UBL outside Peppol, CII / Factur-X, German public
buyer under XRechnung in UBL and in CII). Prints p50 / p95 / max in ms; asserts only that every
document passes. Target: p95 under 50 ms at 50 lines.

Run from the project root: `python bench/bench_einvoice.py [--rounds 200]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from corpus import DE_BUYER, DE_SELLER, ISSUED_ON, RATES, TERMS, order  # noqa: E402
from handoff.invoicing.documents import rulesets, validation  # noqa: E402
from handoff.invoicing.domain.invoices import Invoice, draft_invoice, issue  # noqa: E402
from handoff.invoicing.service import einvoicing  # noqa: E402


def invoice(lines: int) -> Invoice:
    rows = [(f"Item {i}", str(1 + i % 4), f"{19.99 + i:.2f}", "standard", "services") for i in range(lines)]
    return issue(draft_invoice(order(f"B-{lines}", DE_BUYER, "EUR", rows), DE_SELLER, RATES, TERMS), "INV-1", ISSUED_ON)


def buyers(inv: Invoice) -> dict[str, Invoice]:
    b = inv.buyer
    public = replace(b, public_sector=True, leitweg_id="991-33333TEST-33", peppol_id="")
    return {
        "UBL, Peppol": replace(inv, buyer=replace(b, invoice_format="ubl")),
        "UBL, not on Peppol": replace(inv, buyer=replace(b, invoice_format="ubl", peppol_id="")),
        "CII (Factur-X)": replace(inv, buyer=replace(b, invoice_format="facturx")),
        "UBL, XRechnung": replace(inv, buyer=replace(public, invoice_format="ubl")),
        "CII, XRechnung": replace(inv, buyer=replace(public, invoice_format="cii")),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    rounds = parser.parse_args().rounds
    print("rule sets:", ", ".join(f"{k} {v}" for k, v in rulesets.versions().items()))
    start = time.perf_counter()
    validation.warm()
    print(f"warm-up (compile every stylesheet and schema): {time.perf_counter() - start:.2f} s")
    print(f"{'lines':>5}  {'buyer':<20} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for lines in (10, 50):
        for label, inv in buyers(invoice(lines)).items():
            times = []
            for _ in range(rounds):
                t0 = time.perf_counter()
                report = einvoicing.check(inv)
                times.append((time.perf_counter() - t0) * 1000)
                assert report is not None and report.passed, report
            times.sort()
            p95 = times[int(len(times) * 0.95) - 1]
            print(f"{lines:>5}  {label:<20} {statistics.median(times):>8.1f} {p95:>8.1f} {times[-1]:>8.1f}")


if __name__ == "__main__":
    main()
