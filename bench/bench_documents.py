"""Benchmark of invoice documents: UBL and CII generated per second, validation (XSD + EN 16931,
plus Peppol for UBL) per second, PDF and Factur-X per second. Prints numbers; asserts nothing.

Run from the project root: `python bench/bench_documents.py [seconds-per-measure]`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from corpus import DE_BUYER, DE_SELLER, ISSUED_ON, RATES, TERMS, build_corpus, order  # noqa: E402
from handoff.invoicing.documents import render  # noqa: E402
from handoff.invoicing.documents.validation import validate  # noqa: E402
from handoff.invoicing.domain.invoices import draft_invoice, issue  # noqa: E402


def rate(label: str, work: Callable[[int], object], seconds: float, unit: str = "documents") -> None:
    work(0)  # warm-up: imports, font registration, stylesheet compilation
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        work(count)
        count += 1
    print(f"{label:<44} {count / elapsed:>9.1f} {unit}/s  ({count} in {elapsed:.2f} s)")


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    corpus = list(build_corpus().values())
    n = len(corpus)
    lines = sum(len(inv.lines) for inv in corpus) / n
    print(f"corpus: {n} invoices and credit notes, {lines:.1f} lines on average")
    start = time.perf_counter()
    validate(render(corpus[0], "ubl"))
    validate(render(corpus[0], "cii"))
    print(f"{'first validation (compiles 3 stylesheets)':<44} {time.perf_counter() - start:>9.2f} s")
    ubl = [render(inv, "ubl") for inv in corpus]
    cii = [render(inv, "cii") for inv in corpus]
    rate("UBL generated", lambda i: render(corpus[i % n], "ubl"), seconds)
    rate("CII generated", lambda i: render(corpus[i % n], "cii"), seconds)
    rate("UBL validated (XSD + EN 16931 + Peppol)", lambda i: validate(ubl[i % n]), seconds)
    rate("UBL validated (XSD + EN 16931)", lambda i: validate(ubl[i % n], peppol=False), seconds)
    rate("CII validated (XSD + EN 16931)", lambda i: validate(cii[i % n]), seconds)
    big = issue(
        draft_invoice(
            order("B-20", DE_BUYER, "EUR", [(f"Item {i}", "3", "19.99", "standard", "goods") for i in range(20)]),
            DE_SELLER,
            RATES,
            TERMS,
        ),
        "INV-DE-2026-999999",
        ISSUED_ON,
    )
    big_ubl = render(big, "ubl")
    rate("UBL generated, 20-line invoice", lambda i: render(big, "ubl"), seconds)
    rate("UBL validated, 20-line invoice (+ Peppol)", lambda i: validate(big_ubl), seconds)
    rate("PDF rendered, 20-line invoice", lambda i: render(big, "pdf"), seconds)
    rate("PDF rendered", lambda i: render(corpus[i % n], "pdf"), seconds)
    rate("Factur-X rendered (PDF + CII + XSD check)", lambda i: render(corpus[i % n], "facturx"), seconds)


if __name__ == "__main__":
    main()
