"""Payment CSV: `invoice_number, amount, date` per row (optional `reference`, `currency`).

The file is checked whole first; any bad row makes the import fail with every bad row named (file,
line, field), and nothing is applied: money is never half-imported.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from handoff.deals.formats.files import IntakeError
from handoff.kernel.money import D, MoneyError

REQUIRED = ("invoice_number", "amount", "date")


@dataclass(frozen=True, slots=True)
class PaymentRow:
    line: int
    invoice_number: str
    amount: Decimal
    paid_on: date
    reference: str
    payment_key: str  # content hash: the same payment imported again is recognised


class PaymentFileError(IntakeError):
    def __init__(self, file: str, problems: list[tuple[int, str]]) -> None:
        self.problems = problems
        super().__init__(file, problems[0][0], "; ".join(f"line {ln}: {msg}" for ln, msg in problems))


def read_payment_file(path: Path) -> list[PaymentRow]:
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise IntakeError(name, None, f"cannot read file: {exc}") from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise IntakeError(name, 1, f"header lacks column {', '.join(missing)} (needs {', '.join(REQUIRED)})")
    rows, problems = [], []
    for raw in reader:
        line = reader.line_num
        cells = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        if None in raw:
            problems.append((line, "more cells than the header"))
            continue
        number = cells["invoice_number"]
        if not number:
            problems.append((line, "invoice_number is empty"))
        try:
            amount = D(cells["amount"])
            if amount <= 0:
                problems.append((line, f"amount {cells['amount']} is not positive"))
        except MoneyError:
            problems.append((line, f"amount {cells['amount']!r} is not a decimal number"))
            continue
        try:
            paid_on = date.fromisoformat(cells["date"])
        except ValueError:
            problems.append((line, f"date {cells['date']!r} is not YYYY-MM-DD"))
            continue
        key = hashlib.sha256(f"{number}|{amount}|{paid_on}|{cells.get('reference', '')}|{line}".encode()).hexdigest()
        rows.append(PaymentRow(line, number, amount, paid_on, cells.get("reference", ""), key))
    if problems:
        raise PaymentFileError(name, problems)
    return rows
