"""What a customer receives with its invoice e-mail: its e-invoice preference (`invoice_format`).

- `pdf` (the default): the readable PDF;
- `facturx`: the Factur-X / ZUGFeRD PDF (the PDF with its CII inside, one file for people and machines);
- `ubl`: the PDF and the UBL 2.1 file (Peppol BIS Billing 3.0 to a customer with a Peppol ID,
  XRechnung to a German public body, plain EN 16931 otherwise: `invoicing.domain.einvoice`);
- `cii`: the PDF and the UN/CEFACT CII file (EN 16931; XRechnung readers take it).

The preference comes with the deal (`invoice_format`), is judged by readiness and travels with the
customer as billed (`Customer.invoice_format`), so the invoice's own document says what its e-mail
carried.
"""

from __future__ import annotations

INVOICE_FORMATS = ("pdf", "facturx", "ubl", "cii")
DEFAULT_FORMAT = "pdf"
# other spellings people use for the same thing
ALIASES = {"factur-x": "facturx", "zugferd": "facturx"}
_ATTACHMENTS = {"pdf": ("pdf",), "facturx": ("facturx",), "ubl": ("pdf", "ubl"), "cii": ("pdf", "cii")}


def normalise(value: str) -> str | None:
    """The preference `value` names (empty: the default), or None when it names none."""
    word = value.strip().lower()
    if not word:
        return DEFAULT_FORMAT
    word = ALIASES.get(word, word)
    return word if word in INVOICE_FORMATS else None


def format_error(value: str) -> str | None:
    """Why `value` is not an e-invoice preference, or None when it is one."""
    if normalise(value) is not None:
        return None
    return f"invoice_format {value!r} is not one of {', '.join(INVOICE_FORMATS)}"


def attachments(preference: str) -> tuple[str, ...]:
    """The document formats (`invoicing.documents.FORMATS`) an e-mail carries for `preference`."""
    return _ATTACHMENTS[normalise(preference) or DEFAULT_FORMAT]
