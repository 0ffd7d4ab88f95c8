"""Reading what a payer wrote: invoice-number keys, ISO 11649 RF references and payer names.

Payers retype invoice numbers: with spaces or without dashes (`INV DE 2026 000042`,
`INVDE2026000042`), without leading zeros (`INV-DE-2026-42`), with one wrong, missing, extra or
swapped character. Numbers are therefore compared as keys: upper-case letters and digits only,
in two forms (with and without the leading zeros of each number part). Typos are checked with a
bounded Damerau-Levenshtein distance (at most one edit), only against the few invoices an index
lookup (by amount) has already selected, never against all invoices.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import lru_cache

_PARTS = re.compile(r"[A-Za-z0-9]+")
_RF = re.compile(r"RF\d{2}[A-Z0-9]{1,21}")
_INNER_SPACE = re.compile(r"(?<=[A-Z0-9]) (?=[A-Z0-9])")
_LEGAL_FORMS = frozenset(
    [
        "gmbh",
        "ag",
        "kg",
        "ohg",
        "ug",
        "mbh",
        "bv",
        "b",
        "v",
        "nv",
        "n",
        "v",
        "ltd",
        "limited",
        "llc",
        "inc",
        "corp",
        "corporation",
        "co",
        "company",
        "plc",
        "sa",
        "sas",
        "sarl",
        "srl",
        "spa",
        "sl",
        "ab",
        "as",
        "oy",
        "aps",
        "the",
        "and",
        "of",
        "und",
        "et",
    ]
)


def number_keys(number: str) -> tuple[str, str]:
    """`INV-DE-2026-000042` -> (`INVDE2026000042`, `INVDE202642`): full, and without leading zeros."""
    parts = _PARTS.findall(number.upper())
    # the leading zeros of each all-digit part go (`000042` -> `42`, `000` -> `0`; `0042A` is kept)
    return "".join(parts), "".join([(p.lstrip("0") or "0") if p.isdigit() else p for p in parts])


def compact(text: str) -> str:
    upper = text.upper()
    if upper.isascii() and upper.isalnum():  # already compact, as structured references are
        return upper
    return "".join(_PARTS.findall(upper))


def rf_references(text: str) -> list[str]:
    """RF creditor references written in text, spaces allowed inside (`RF18 5390 0754 7034`)."""
    upper = text.upper()
    if "RF" not in upper and "R F" not in upper:  # most texts: no reference, nothing to squeeze
        return []
    return [m for m in _RF.findall(_INNER_SPACE.sub("", upper)) if _rf_valid(m)]


def _rf_valid(reference: str) -> bool:
    """ISO 11649 check: move `RFcc` to the end, letters to numbers (A=10), the value mod 97 is 1.
    (The same as stdnum's `iso11649.is_valid`, without its cleaning steps, on a hot path.)"""
    rearranged = reference[4:] + reference[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def candidates(text: str, max_tokens: int = 4, min_len: int = 5, max_len: int = 32) -> list[str]:
    """Strings in the text that could be an invoice number: each run of 1..max_tokens adjacent
    alphanumeric tokens, joined, and the leading-zero-free form of the same run; each distinct
    string once, in the order read."""
    tokens = _PARTS.findall(text.upper())
    # per token once, not per run: its leading-zero-free form and whether it has a digit
    # (tokens are ASCII letters and digits, so "not all letters" means "has a digit")
    plain = [(t.lstrip("0") or "0") if t.isdigit() else t for t in tokens]  # as in number_keys
    digits = [not t.isalpha() for t in tokens]
    n = len(tokens)
    found: dict[str, None] = {}  # an ordered set
    for i in range(n):
        joined, stripped, has_digit = "", "", False
        for k in range(i, min(n, i + max_tokens)):
            joined += tokens[k]
            stripped += plain[k]
            has_digit = has_digit or digits[k]
            if len(joined) > max_len:
                break
            if has_digit and len(joined) >= min_len:
                found[joined] = None
                found[stripped] = None  # the same string when there were no leading zeros
    return list(found)


def deletes(word: str) -> Iterator[str]:
    """Every string one deletion away from the word."""
    for i in range(len(word)):
        yield word[:i] + word[i + 1 :]


def within_one_edit(a: str, b: str) -> bool:
    """Damerau-Levenshtein distance <= 1 (one substitution, insertion, deletion or swap)."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    # length of the common prefix by bisection: slice comparisons run in C
    lo, hi = 0, min(la, lb)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    i = lo
    if la == lb:
        if a[i + 1 :] == b[i + 1 :]:
            return True
        return i + 1 < la and a[i] == b[i + 1] and a[i + 1] == b[i] and a[i + 2 :] == b[i + 2 :]
    return a[i + 1 :] == b[i:] if la > lb else a[i:] == b[i + 1 :]


_WORDS = re.compile(r"[a-z0-9]+")


@lru_cache(maxsize=262144)
def name_tokens(name: str) -> frozenset[str]:
    """Significant, accent-free, lower-case words of a party name (legal forms dropped)."""
    if name.isascii():  # most names: nothing to strip accents from
        plain = name.lower()
    else:
        plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return frozenset(t for t in _WORDS.findall(plain) if t not in _LEGAL_FORMS and len(t) > 1)


def _token_match(a: str, b: str) -> bool:
    # "intl" ~ "international", "acme" ~ "acmee": a shared 4-letter prefix or one edit
    return a == b or (min(len(a), len(b)) >= 4 and (a[:4] == b[:4] or within_one_edit(a, b)))


def name_similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """Share of words found in the other name, the weaker of both directions (0..1): an extra or
    a missing word both count against it."""
    if a == b:  # most payers write the customer's name (legal forms do not count): no cache entry
        return 1.0 if a else 0.0
    return _name_similarity(a, b)


@lru_cache(maxsize=262144)
def _name_similarity(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    common = a & b  # exact words first (a C set operation), near words only among the rest
    rest_a, rest_b = a - common, b - common
    ab = len(common) + sum(1 for t in rest_a if any(_token_match(t, u) for u in rest_b))
    if ab < 0.8 * len(a) and ab < len(a):
        return ab / len(a)
    ba = len(common) + sum(1 for t in rest_b if any(_token_match(t, u) for u in rest_a))
    return min(ab / len(a), ba / len(b))
