"""Cash-application benchmark: synthetic open invoices and bank payments with realistic noise.

Prints the auto-match rate, the wrong-match rate among automatic matches (asserted to be 0), the
review and unmatched rates, and the time to index the invoices and match all lines.

    python bench/bench_matching.py [--lines 100000] [--invoices 100000] [--seed 7] [--no-helper]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from handoff.cash.domain.bank import BankLine
from handoff.cash.domain.matching import Decision, Matcher, MatchPolicy, OpenInvoice, Reading
from handoff.invoicing.domain.invoices import creditor_reference
from handoff.runtime import gc_pause as collector
from handoff.runtime import reading_ahead

WORDS = [
    "alpha",
    "beta",
    "nordic",
    "atlas",
    "orbit",
    "vertex",
    "lumen",
    "quanta",
    "cobalt",
    "meridian",
    "harbor",
    "summit",
    "pioneer",
    "falcon",
    "granite",
    "willow",
    "aurora",
    "cedar",
    "delta",
    "ember",
    "fjord",
    "glacier",
    "horizon",
    "ionic",
    "juniper",
    "kestrel",
    "lotus",
    "magnet",
    "nimbus",
    "onyx",
    "polar",
    "quartz",
    "raven",
    "sierra",
    "tundra",
    "umber",
    "vivid",
    "zephyr",
    "amber",
    "basalt",
    "cascade",
    "dune",
]
SECTORS = [
    "systems",
    "logistics",
    "software",
    "foods",
    "energy",
    "consulting",
    "media",
    "labs",
    "robotics",
    "textiles",
]
FORMS = ["GmbH", "B.V.", "Ltd", "SAS", "AG", "Inc.", "S.r.l."]
COMMON_AMOUNTS = [Decimal(x) for x in ("100.00", "250.00", "500.00", "1000.00", "1200.00", "2500.00")]


@dataclass
class Case:
    line: BankLine
    truth: frozenset[str]  # invoice numbers this payment settles (empty: none of ours)
    kind: str


def customer_names(rng: random.Random, n: int) -> list[str]:
    names = set()
    while len(names) < n:
        names.add(
            f"{rng.choice(WORDS).title()} {rng.choice(WORDS).title()} {rng.choice(SECTORS).title()} {rng.choice(FORMS)}"
        )
    return sorted(names)


def name_variant(rng: random.Random, name: str) -> str:
    words = name.split()
    choice = rng.random()
    if choice < 0.3:
        return name.upper()
    if choice < 0.55:
        return " ".join(words[:-1])  # legal form dropped
    if choice < 0.75:
        w = list(words[0])
        k = rng.randrange(1, len(w))
        w[k] = "x"
        return " ".join(["".join(w), *words[1:]])  # one typo
    return name


def number_variant(rng: random.Random, number: str) -> str:
    series, entity, year, seq = number.split("-")
    return rng.choice(
        [
            f"{series} {entity} {year} {seq}",
            f"{series}{entity}{year}{seq}",
            f"{series}-{entity}-{year}-{int(seq)}",
            f"{series.lower()}-{entity.lower()}-{year}-{seq}",
            f"{series}/{entity}/{year}/{seq}",
        ]
    )


def typo(rng: random.Random, number: str) -> str:
    series, entity, year, seq = number.split("-")
    s = list(seq)
    k = rng.randrange(len(s) - 1)
    if rng.random() < 0.5:
        s[k], s[k + 1] = s[k + 1], s[k]  # swapped digits
        if s == list(seq):
            s[k] = str((int(s[k]) + 1) % 10)
    else:
        s.insert(k, rng.choice("0123456789"))  # an extra digit
    return f"{series}-{entity}-{year}-{''.join(s)}"


def generate(n_invoices: int, n_lines: int, seed: int) -> tuple[list[OpenInvoice], list[Case]]:
    rng = random.Random(seed)
    names = customer_names(rng, max(10, n_invoices // 5))
    invoices = []
    for k in range(n_invoices):
        entity = "DE" if k % 3 else "FR"
        number = f"INV-{entity}-2026-{k + 1:06d}"
        c = rng.randrange(len(names))
        amount = rng.choice(COMMON_AMOUNTS) if rng.random() < 0.15 else Decimal(rng.randrange(5000, 2_000_000)) / 100
        invoices.append(
            OpenInvoice(
                number=number,
                customer_id=f"C{c:05d}",
                customer_name=names[c],
                currency="EUR",
                amount_open=amount,
                payment_reference=creditor_reference(number),
                due_date=date(2026, 1, 1) + timedelta(days=k % 180),
            )
        )
    by_customer: dict[str, list[OpenInvoice]] = {}
    for inv in invoices:
        by_customer.setdefault(inv.customer_id, []).append(inv)
    free = list(range(n_invoices))
    rng.shuffle(free)
    used: set[str] = set()
    cases: list[Case] = []

    def take() -> OpenInvoice:
        while True:
            inv = invoices[free.pop()]
            if inv.number not in used:
                used.add(inv.number)
                return inv

    def line(amount: Decimal, name: str = "", text: str = "", ref: str = "") -> BankLine:
        return BankLine(
            amount=amount,
            currency="EUR",
            booking_date=date(2026, 3, 1),
            counterparty_name=name,
            remittance=text,
            structured_reference=ref,
            line_id=f"L{len(cases)}",
        )

    kinds = [
        ("rf", 30),
        ("number_noisy", 15),
        ("number_typo", 10),
        ("rf_typo", 5),
        ("name_amount", 8),
        ("partial_pair", 6),
        ("combined_listed", 3),
        ("combined_name", 3),
        ("fee", 5),
        ("over", 3),
        ("amount_only", 7),
        ("foreign", 5),
    ]
    population = [k for k, w in kinds for _ in range(w)]
    while len(cases) < n_lines and len(free) > 10:
        kind = rng.choice(population)
        inv = take()
        name = name_variant(rng, inv.customer_name)
        amt = inv.amount_open
        if kind == "rf":
            cases.append(Case(line(amt, name, "Payment", inv.payment_reference), frozenset({inv.number}), kind))
        elif kind == "number_noisy":
            cases.append(
                Case(
                    line(amt, name, f"Invoice {number_variant(rng, inv.number)} thanks"),
                    frozenset({inv.number}),
                    kind,
                )
            )
        elif kind == "number_typo":
            cases.append(Case(line(amt, name, f"RE {typo(rng, inv.number)}"), frozenset({inv.number}), kind))
        elif kind == "rf_typo":
            bad = inv.payment_reference[:-2] + inv.payment_reference[-1] + inv.payment_reference[-2]
            cases.append(Case(line(amt, name, "", bad), frozenset({inv.number}), kind))
        elif kind == "name_amount":
            cases.append(Case(line(amt, name), frozenset({inv.number}), kind))
        elif kind == "partial_pair":
            first = (amt * Decimal("0.4")).quantize(Decimal("0.01"))
            cases.append(Case(line(first, name, "", inv.payment_reference), frozenset({inv.number}), kind))
            cases.append(Case(line(amt - first, name, f"rest {inv.number}"), frozenset({inv.number}), kind))
        elif kind in ("combined_listed", "combined_name"):
            others = [o for o in by_customer[inv.customer_id] if o.number not in used][:2]
            group = [inv, *others]
            used.update(o.number for o in others)
            total = sum((o.amount_open for o in group), Decimal(0))
            text = " ".join(o.number for o in group) if kind == "combined_listed" else "invoices March"
            cases.append(Case(line(total, name, text), frozenset(o.number for o in group), kind))
        elif kind == "fee":
            fee = Decimal(rng.randrange(10, 150)) / 100
            if amt > 400:
                cases.append(Case(line(amt - fee, name, "", inv.payment_reference), frozenset({inv.number}), kind))
        elif kind == "over":
            cases.append(Case(line(amt + 10, name, f"{inv.number}"), frozenset({inv.number}), kind))
        elif kind == "amount_only":
            cases.append(Case(line(amt, "", "SEPA transfer"), frozenset({inv.number}), kind))
        else:  # money that is not for any of our invoices: a refund, a grant
            used.discard(inv.number)
            cases.append(
                Case(
                    line(Decimal(rng.randrange(100, 99999)) / 100, "Tax Office", "refund 2025"),
                    frozenset(),
                    kind,
                )
            )
    return invoices, cases[:n_lines]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--invoices", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-helper", action="store_true", help="read every line in this process")
    args = parser.parse_args()
    invoices, cases = generate(args.invoices, args.lines, args.seed)
    policy = MatchPolicy()
    lines = [c.line for c in cases]
    started = time.perf_counter()
    # as the application's cash run (`apply_cash`) does for this many lines
    with collector.for_bulk(len(lines)), ExitStack() as stack:
        readings: Iterable[Reading | None] = [None] * len(lines)
        if not args.no_helper:
            readings = stack.enter_context(reading_ahead.readings(invoices, policy, lines))
        matcher = Matcher(invoices, policy)
        proposals = [matcher.match_line(line, reading) for line, reading in zip(lines, readings, strict=True)]
    elapsed = time.perf_counter() - started

    stats: Counter[str] = Counter()
    wrong_examples = []
    per_kind: Counter[tuple[str, str]] = Counter()
    for case, proposal in zip(cases, proposals, strict=True):
        got = frozenset(a.invoice_number for a in proposal.allocations)
        stats[proposal.decision.value] += 1
        if proposal.decision is Decision.AUTO:
            correct = got == case.truth
            stats["auto_correct" if correct else "auto_wrong"] += 1
            per_kind[(case.kind, "auto" if correct else "WRONG")] += 1
            if not correct and len(wrong_examples) < 5:
                wrong_examples.append((case, proposal))
        else:
            per_kind[(case.kind, proposal.decision.value)] += 1
    n = len(cases)
    auto = stats["auto"]
    print(f"lines {n:,}  open invoices {len(invoices):,}  seed {args.seed}  threshold {policy.auto_apply_threshold}")
    print(f"auto-matched      {stats['auto_correct'] / n:7.2%}")
    print(f"wrong (of auto)   {stats['auto_wrong'] / max(auto, 1):7.2%}  ({stats['auto_wrong']} lines)")
    print(f"to review         {stats['review'] / n:7.2%}")
    print(f"unmatched         {stats['unmatched'] / n:7.2%}")
    print(f"time              {elapsed:7.2f} s  (index + match)")
    for kind in sorted({k for k, _ in per_kind}):
        row = {d: per_kind[(kind, d)] for d in ("auto", "review", "unmatched", "WRONG") if per_kind[(kind, d)]}
        print(f"  {kind:16s} {row}")
    for case, proposal in wrong_examples:
        print("WRONG", case.kind, case.truth, proposal)
    assert stats["auto_wrong"] == 0, "an automatic match went to the wrong invoice"


if __name__ == "__main__":
    main()
