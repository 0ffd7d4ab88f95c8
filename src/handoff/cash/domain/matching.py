"""Cash application: which open invoices does a received bank payment settle?

Evidence-based, as accounts-receivable clerks do it: a valid ISO 11649 `RF` creditor reference
or the invoice's own payment reference, the invoice number written in the remittance text (also
retyped: spaces, missing dashes or zeros, one typo), the amount (equal to what is open, within a
fee/FX tolerance, or equal to the sum of several of the payer's invoices), and the payer's name.
Each piece of evidence has a weight; the confidence is 1 - prod(1 - weight). A proposal at or
above the configured auto-apply threshold applies itself, the rest goes to review, lines with no
candidate are flagged unmatched.

Safety rules, because a wrong automatic match is worse than a manual one: without a valid
structured reference, a proposal applies itself only when the amount agrees; a payer name that
contradicts the invoice's customer lowers confidence; two candidates of similar strength make
the line ambiguous. Lines are matched in order and each automatic match settles what it allocates
at once, so automatic allocations never exceed an invoice's open amount and several payments for
one invoice settle it in turn. Proposals for review reserve nothing: a person may reject them.

Every lookup goes through an index (reference, number keys, amount, customer name), never
through all invoice-line pairs.

Matching a line is reading it (`Matcher.read`: what its text names, whom its payer's name and its
amount point to, all against the invoices as issued) and then deciding against what earlier lines
settled. A dry matcher, which settles nothing, can read lines ahead, on another process; its
reading, and the proposal when the invoices the line names decide it alone, is taken as long as
none of those invoices has been settled since, so the proposals are the same either way.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from handoff.cash.domain.bank import BankLine
from handoff.cash.domain.policy import (
    AMOUNT_CODES,
    WEIGHTS,
    Allocation,
    Decision,
    Evidence,
    MatchPolicy,
    OpenInvoice,
    Proposal,
    Reading,
    confidence,
)
from handoff.cash.domain.remittance import (
    candidates,
    compact,
    deletes,
    name_similarity,
    name_tokens,
    number_keys,
    rf_references,
    within_one_edit,
)
from handoff.kernel.money import CENT, ZERO

BY_AMOUNT = 50  # invoices of any customer looked at for an amount, at most
NEAR_BY_AMOUNT = 20  # ... and for a typo'd number
_LISTED = frozenset({"reference", "invoice_number"})  # evidence that the payer named the invoice
# per key length, for one line: half length, the heads and tails of the candidates that are about
# that long, and those candidates in the order read (`Matcher._near_number`)
_NearProbe = tuple[int, set[str], set[str], list[str]]


@dataclass(slots=True)
class _Candidate:
    item: int
    evidence: list[Evidence]
    score: float = 0.0


class Matcher:
    """Indexes the open invoices once; `match_line` is then a handful of dictionary probes."""

    def __init__(
        self, invoices: Sequence[OpenInvoice], policy: MatchPolicy | None = None, *, dry: bool = False
    ) -> None:
        self.policy = policy or MatchPolicy()
        # a dry matcher settles nothing: it reads lines ahead against the invoices as issued (`read`)
        self.dry = dry
        self.invoices = list(invoices)
        self.remaining = [inv.amount_open for inv in self.invoices]
        self.amount_open = list(self.remaining)  # as issued to the matcher; `remaining` goes down
        self.currency = [inv.currency for inv in self.invoices]
        self._named: dict[frozenset[str], list[str]] = {}  # payer words -> customers (names do not change)
        self._tolerance_of: tuple[Decimal, Decimal] | None = None  # the last amount asked for, and its tolerance
        # invoice ids per key as tuples, not lists: a tuple of ints drops out of the cycle
        # collector's watch, which would otherwise walk two small lists per invoice on every full run
        self.by_reference: dict[str, tuple[int, ...]] = {}
        self.by_number: dict[str, tuple[int, ...]] = {}  # both keys of each number (number_keys)
        self.key_of: list[str] = []  # per invoice: its number's full key
        self.by_amount: dict[str, tuple[list[Decimal], list[int]]] = {}
        self.by_customer: dict[str, list[int]] = {}
        self.by_name_token: dict[str, set[str]] = {}
        # customers by each pair of their name words: a payer's first two words narrow the search to
        # a few customers at once, instead of intersecting the large sets of single common words
        self.by_name_pair: dict[tuple[str, str], set[str]] = {}
        self.customer_tokens: dict[str, frozenset[str]] = {}
        by_reference, by_number, customer_tokens = self.by_reference, self.by_number, self.customer_tokens
        by_currency: dict[str, list[int]] = {}
        for i, inv in enumerate(self.invoices):
            if inv.payment_reference:
                ref = compact(inv.payment_reference)
                by_reference[ref] = (*by_reference.get(ref, ()), i)
            full, short = number_keys(inv.number)
            by_number[full] = (*by_number.get(full, ()), i)  # keys are (nearly) unique: no growth cost
            if short != full:
                by_number[short] = (*by_number.get(short, ()), i)
            self.key_of.append(full)
            by_currency.setdefault(inv.currency, []).append(i)
            self.by_customer.setdefault(inv.customer_id, []).append(i)
            if inv.customer_id not in customer_tokens:
                tokens = name_tokens(inv.customer_name)
                customer_tokens[inv.customer_id] = tokens
                for t in tokens:
                    self.by_name_token.setdefault(t, set()).add(inv.customer_id)
                for pair in itertools.combinations(sorted(tokens), 2):
                    self.by_name_pair.setdefault(pair, set()).add(inv.customer_id)
        # sorts by a key list's __getitem__ compare the keys in C, without a Python call per item;
        # being stable, they order equal keys by invoice, as sorting (key, invoice) pairs would
        for currency, items in by_currency.items():
            items.sort(key=self.amount_open.__getitem__)
            self.by_amount[currency] = ([self.amount_open[i] for i in items], items)
        # vocabulary of name words, for payer names with a typo: each word and its one-deletion variants
        self.words_near: dict[str, set[str]] = {}
        self.words_by_prefix: dict[str, set[str]] = {}
        for word in self.by_name_token:
            for variant in (word, *deletes(word)):
                self.words_near.setdefault(variant, set()).add(word)
            if len(word) >= 4:
                self.words_by_prefix.setdefault(word[:4], set()).add(word)
        due = [(inv.due_date or date.max, inv.number) for inv in self.invoices]
        for items in self.by_customer.values():
            items.sort(key=due.__getitem__)

    # -- evidence ---------------------------------------------------------------------------------

    def _tolerance(self, amount: Decimal) -> Decimal:
        # a line's amount is asked for several times in a row: remember the last one, by identity
        # (hashing a Decimal for a dictionary would cost more than computing its tolerance again)
        last = self._tolerance_of
        if last is None or last[0] is not amount:
            last = self._tolerance_of = (
                amount,
                min(self.policy.tolerance_abs, (amount * self.policy.tolerance_rel).quantize(CENT)),
            )
        return last[1]

    def _amount_evidence(self, paid: Decimal, open_: Decimal, number: str, *, code: str = "amount_exact") -> Evidence:
        # `!s`: the same text as Decimal.__format__ with no spec gives, at a third of its cost
        if paid == open_:
            return Evidence(code, f"{paid!s} equals {open_!s} open", number)
        if abs(paid - open_) <= self._tolerance(open_):
            return Evidence("amount_within_tolerance", f"{paid!s} within tolerance of {open_!s} open", number)
        if paid < open_:
            return Evidence("partial_payment", f"{paid!s} of {open_!s} open", number)
        return Evidence("overpayment", f"{paid!s} exceeds {open_!s} open", number)

    def _name_evidence(self, line: BankLine, item: int) -> tuple[Evidence | None, float]:
        """Evidence and a multiplier: a payer name contradicting the customer lowers confidence."""
        payer = name_tokens(line.counterparty_name)
        if not payer:
            return None, 1.0
        inv = self.invoices[item]
        similarity = name_similarity(payer, self.customer_tokens[inv.customer_id])
        if similarity >= 0.8:
            return Evidence("name", f"payer {line.counterparty_name!r} ~ {inv.customer_name!r}", inv.number), 1.0
        if similarity >= 0.5:
            return Evidence(
                "name_partial", f"payer {line.counterparty_name!r} ~ {inv.customer_name!r}", inv.number
            ), 1.0
        return Evidence(
            "name_mismatch", f"payer {line.counterparty_name!r} is not {inv.customer_name!r}", inv.number
        ), 0.75

    def _found_in_text(self, line: BankLine) -> tuple[dict[int, list[Evidence]], list[str]]:
        """Invoices named by a reference or an exact number; and the number candidates read."""
        found: dict[int, list[Evidence]] = {}
        if line.structured_reference:
            structured = compact(line.structured_reference)
            for i in self.by_reference.get(structured, ()):
                found.setdefault(i, []).append(
                    Evidence("reference", f"reference {structured}", self.invoices[i].number)
                )
            for i in found:
                if self.remaining[i] > ZERO:
                    return found, []  # the common case: a known structured reference names the invoice
        text = " ".join(p for p in (line.structured_reference, line.remittance, line.end_to_end_id) if p)
        for ref in rf_references(text):
            for i in self.by_reference.get(ref, ()):
                if i not in found:
                    found[i] = [Evidence("reference", f"reference {ref}", self.invoices[i].number)]
        cands = candidates(text)
        # an RF reference with a typo fails its check digits: its body may still be the number
        cands += [c[4:] for c in cands if c.startswith("RF") and c[2:4].isdigit() and len(c) > 6]
        by_number = self.by_number
        for cand in cands:
            for i in by_number.get(cand, ()):
                if not any(e.code == "reference" for e in found.get(i, ())):
                    found.setdefault(i, []).append(
                        Evidence("invoice_number", f"{cand!r} in remittance", self.invoices[i].number)
                    )
        return found, cands

    def _found_near(
        self, line: BankLine, reading: Reading, customers: list[str], found: dict[int, list[Evidence]]
    ) -> None:
        """Numbers written with one typo. Sequential numbers are all one edit apart, so a typo'd
        number counts only for an invoice whose open amount agrees: those are looked up by amount
        (and payer), then their keys compared (`_near_number`)."""
        near = reading.near or {}
        by_length: dict[int, _NearProbe] = {}
        for i in self._agreeing(line, customers, reading):
            if i in found:
                continue
            number = near[i] if i in near else self._near_number(i, reading.cands, by_length)
            if number is not None:
                found[i] = [
                    Evidence(
                        "invoice_number_near",
                        f"{number!r} one typo from {self.invoices[i].number}",
                        self.invoices[i].number,
                    )
                ]

    def _near_number(self, item: int, cands: list[str], by_length: dict[int, _NearProbe]) -> str | None:
        """The first candidate one typo from the invoice's number. Only candidates of about the
        key's length can be, and one edit leaves the first or the last half of a key intact: so
        those candidates and their halves are indexed first (in `by_length`, per key length, for
        the line) and most keys are rejected by a probe. (Invoice numbers share their leading part,
        `INV-DE-2026-`: halves of candidates of other lengths would let nearly every key through.)"""
        key = self.key_of[item]
        size = len(key)
        probe = by_length.get(size)
        if probe is None:
            h = (size - 1) // 2
            close = [c for c in cands if size - 1 <= len(c) <= size + 1]
            probe = by_length[size] = (h, {c[:h] for c in close}, {c[-h:] for c in close}, close)
        h, heads, tails, close = probe
        if key[:h] not in heads and key[-h:] not in tails:
            return None
        for c in close:
            if within_one_edit(c, key):
                return c
        return None

    # -- proposals --------------------------------------------------------------------------------

    def match_line(self, line: BankLine, reading: Reading | None = None) -> Proposal:
        """The proposal for the next line, settling what it applies. `reading`: the line as read
        ahead by a dry matcher over the same invoices (`read`); it is used as far as it still holds."""
        if line.amount <= ZERO:
            return self._proposal(line, [], [Evidence("not_a_credit", f"{line.amount} is not money received")])
        if reading is None or not self._untouched(reading.found):
            reading = self.read(line)
        elif reading.proposal is not None:
            if reading.proposal.decision is Decision.AUTO:
                self._settle(reading.settles, reading.proposal.allocations, reading.proposal.write_off)
            return reading.proposal
        return self._decide(line, reading)

    def read(self, line: BankLine) -> Reading:
        """What the line names (references, numbers) and, for a dry matcher reading ahead, the
        proposal when the invoices found decide it alone (they explain the amount, or carry a
        reference), else what the payer's name and the amount point to (customers, invoices whose
        amount as issued agrees, and which of those a typo'd number stands for)."""
        found, cands = self._found_in_text(line)
        if not self.dry or line.amount <= ZERO:
            return Reading(found, cands)
        decided_by_found = any(self.currency[i] == line.currency for i in found) and (
            self._explains(found, line.amount) or _has_reference(found)
        )
        if not decided_by_found:  # the payer's name and the amount will be needed: what they point to
            customers = self._customers_named(name_tokens(line.counterparty_name))
            own, by_amount = self._own_agreeing(line, customers), self._agreeing_by_amount(line)
            near = None
            if self.policy.fuzzy_numbers and cands:  # for the invoices `_found_near` will likely look at
                by_length: dict[int, _NearProbe] = {}
                near = {i: self._near_number(i, cands, by_length) for i in own or by_amount[:NEAR_BY_AMOUNT]}
            return Reading(found, cands, customers, own, by_amount, near)
        proposal = self._decide(line, Reading(found, cands))
        item_of = {self.invoices[i].number: i for i in found}
        if len(item_of) < len(found):  # two invoices found under one number: settle by index, here
            return Reading(found, cands)
        settles = tuple(item_of[a.invoice_number] for a in proposal.allocations)
        return Reading(found, cands, proposal=proposal, settles=settles)

    def _untouched(self, items: Iterable[int]) -> bool:
        remaining, amount_open = self.remaining, self.amount_open
        return all(remaining[i] == amount_open[i] for i in items)

    def _decide(self, line: BankLine, reading: Reading) -> Proposal:
        found, customers = reading.found, reading.customers
        # look further (payer, typo'd numbers) only when what was found does not explain the amount
        if not self._explains(found, line.amount) and not _has_reference(found):
            if customers is None:
                customers = self._customers_named(name_tokens(line.counterparty_name))
            if self.policy.fuzzy_numbers and reading.cands:
                found = dict(found)  # a reading is not changed: near numbers go into a copy
                self._found_near(line, reading, customers, found)
        # of what was found in the line's currency: what is still open, and what the payer listed
        remaining, currency = self.remaining, self.currency
        open_found: dict[int, list[Evidence]] = {}
        listed, settled = [], []
        for i, ev in found.items():
            if currency[i] != line.currency:
                continue
            if remaining[i] <= ZERO:
                settled.append(i)
                continue
            open_found[i] = ev
            if any(e.code in _LISTED for e in ev):
                listed.append(i)
        if settled and not open_found:
            numbers = ", ".join(self.invoices[i].number for i in settled)
            return self._proposal(
                line,
                [],
                [Evidence("invoice_already_paid", f"{numbers} already settled")],
                force=Decision.REVIEW,
            )
        if len(listed) > 1:
            return self._several(line, listed, open_found)
        if open_found:
            return self._best(line, [_Candidate(i, list(ev)) for i, ev in open_found.items()])
        if customers is None:
            customers = self._customers_named(name_tokens(line.counterparty_name))
        return self._by_amount_and_name(line, customers, reading)

    def _explains(self, found: dict[int, list[Evidence]], amount: Decimal) -> bool:
        """One invoice found is open for the amount, or all of them together within tolerance."""
        total = ZERO
        for i in found:
            if self.remaining[i] == amount:
                return True
            total += self.remaining[i]
        return abs(total - amount) <= self._tolerance(amount)

    def _score(self, line: BankLine, cand: _Candidate) -> None:
        evidence = cand.evidence
        evidence.append(self._amount_evidence(line.amount, self.remaining[cand.item], self.invoices[cand.item].number))
        name, factor = self._name_evidence(line, cand.item)
        if name is not None:
            evidence.append(name)
        cand.score = confidence(evidence) * factor

    def _best(self, line: BankLine, cands: list[_Candidate], extra: Sequence[Evidence] = ()) -> Proposal:
        for cand in cands:
            self._score(line, cand)
        if len(cands) == 1:  # the common case: nothing to rank
            return self._allocate(line, [cands[0].item], [*extra, *cands[0].evidence], cands[0].score, [])
        cands.sort(key=lambda c: -c.score)
        best = cands[0]
        alternatives = [c for c in cands[1:] if best.score - c.score < self.policy.ambiguity_margin]
        evidence = list(extra) + best.evidence
        score = best.score
        if alternatives:
            score *= 0.5
            evidence.append(Evidence("ambiguous", f"{len(alternatives)} other invoice(s) fit about as well"))
        return self._allocate(line, [best.item], evidence, score, [self.invoices[c.item].number for c in alternatives])

    def _several(self, line: BankLine, items: list[int], found: dict[int, list[Evidence]]) -> Proposal:
        """The payer listed several invoices: settle them oldest first."""
        items.sort(key=lambda i: (self.invoices[i].due_date or date.max, self.invoices[i].number))
        evidence = [e for i in items for e in found[i]]
        total = sum((self.remaining[i] for i in items), ZERO)
        evidence.append(self._amount_evidence(line.amount, total, "", code="amount_sum"))
        factor = min(self._name_evidence(line, i)[1] for i in items)
        name = self._name_evidence(line, items[0])[0] if factor == 1.0 else None
        if name is not None:
            evidence.append(name)
        return self._allocate(line, items, evidence, confidence(evidence) * factor, [])

    def _by_amount_and_name(self, line: BankLine, customers: list[str], reading: Reading) -> Proposal:
        if customers:
            named = [i for i in self._agreeing(line, customers, reading) if self.invoices[i].customer_id in customers]
            if named:
                extra = []
                if len(named) == 1 and self._unique_for_customer(named[0], line.amount):
                    extra.append(
                        Evidence(
                            "unique_amount",
                            "the customer's only open invoice of this amount",
                            self.invoices[named[0]].number,
                        )
                    )
                return self._best(line, [_Candidate(i, list(extra)) for i in named])
            for customer in customers:
                combo = self._combination(line, customer)
                if combo is not None:
                    return combo
            oldest = next((i for c in customers for i in self.by_customer[c] if self.remaining[i] > ZERO), None)
            if oldest is not None:  # the payer is known but the amount fits nothing: a partial payment?
                return self._best(line, [_Candidate(oldest, [])])
        same_amount = self._amount_range(line, reading)
        if same_amount:  # only the amount: a few candidates for review, however many share it
            return self._best(line, [_Candidate(i, []) for i in same_amount[:5]])
        return self._proposal(line, [], [Evidence("no_candidate", "no reference, number, amount or payer match")])

    def _amount_range(self, line: BankLine, reading: Reading, limit: int = BY_AMOUNT) -> list[int]:
        """Still fully open invoices in the line's currency whose amount is within tolerance of it."""
        issued = reading.by_amount if reading.by_amount is not None else self._agreeing_by_amount(line)
        return self._still_open(issued[:limit])

    def _agreeing(self, line: BankLine, customers: list[str], reading: Reading) -> list[int]:
        """Fully open invoices whose amount agrees with the line: of the named payers (however many
        invoices share a common amount), else any customer's (a bounded number)."""
        issued = reading.own if reading.own is not None else self._own_agreeing(line, customers)
        # the named payer's own invoices when there are any (a typo'd number is most likely theirs)
        return self._still_open(issued) or self._amount_range(line, reading, limit=NEAR_BY_AMOUNT)

    def _still_open(self, items: list[int]) -> list[int]:
        """Those of the invoices that nothing has settled yet (of amounts that agree as issued)."""
        remaining, amount_open = self.remaining, self.amount_open
        return [i for i in items if remaining[i] == amount_open[i]]

    # what agrees with a line as issued: a reading ahead looks these up, the matcher keeps what is still open

    def _own_agreeing(self, line: BankLine, customers: list[str]) -> list[int]:
        """The named customers' invoices in the line's currency whose amount as issued agrees with it."""
        tol = self._tolerance(line.amount)
        lo, hi, currency = line.amount - tol, line.amount + tol, line.currency
        amount_open, currencies = self.amount_open, self.currency
        by_customer = self.by_customer
        return [
            i for c in customers for i in by_customer[c] if lo <= amount_open[i] <= hi and currencies[i] == currency
        ]

    def _agreeing_by_amount(self, line: BankLine) -> list[int]:
        """The first `BY_AMOUNT` invoices in the line's currency whose amount as issued is within
        tolerance of it, by amount."""
        amounts, items = self.by_amount.get(line.currency, ([], []))
        tol = self._tolerance(line.amount)
        lo, hi = (
            bisect.bisect_left(amounts, line.amount - tol),
            bisect.bisect_right(amounts, line.amount + tol),
        )
        return items[lo : min(hi, lo + BY_AMOUNT)]

    def _customers_named(self, payer: frozenset[str]) -> list[str]:
        """Customers whose name matches the payer's: those sharing most of its words (a typo'd
        word shares none, so one missing word is allowed), then confirmed by similarity."""
        if not payer:
            return []
        named = self._named.get(payer)
        if named is None:  # payers pay again and again: each name is looked up once
            every = self._customers_with_words(sorted(payer))
            # sorted: the same input gives the same proposals whatever the order of a set of strings
            named = sorted(c for c in every if name_similarity(payer, self.customer_tokens[c]) >= 0.8)
            self._named[payer] = named
        return named

    def _customers_with_words(self, words: list[str]) -> set[str]:
        """Customers having each of the words (or a near word): the first two through the pair
        index, then the (small) result intersected with the customers of each further word."""
        if len(words) < 2:
            return set(self._customers_with_word(words[0]))
        first, second = self._vocabulary(words[0]), self._vocabulary(words[1])
        start: set[str] = set()
        for x in first:
            for y in second:
                if x == y:  # two payer words near one name word
                    start |= self.by_name_token[x]
                else:
                    start |= self.by_name_pair.get((x, y) if x < y else (y, x), set())
        for word in words[2:]:
            if not start:
                break
            start &= self._customers_with_word(word)
        return start

    def _vocabulary(self, word: str) -> list[str]:
        """The customers' name words this payer word stands for: itself, or near words."""
        if word in self.by_name_token:
            return [word]
        near = set(self.words_near.get(word, ()))
        for d in deletes(word):
            near.update(self.words_near.get(d, ()))
        if len(word) >= 4:
            near.update(self.words_by_prefix.get(word[:4], ()))
        return [w for w in near if w[:4] == word[:4] or within_one_edit(word, w)]

    def _customers_with_word(self, word: str) -> set[str]:
        """Customers whose name has this word, or, for a word no customer has (a typo, an
        abbreviation), a word one edit away or sharing its first four letters."""
        exact = self.by_name_token.get(word)
        if exact is not None:
            return exact
        words = self._vocabulary(word)
        return set().union(*(self.by_name_token[w] for w in words)) if words else set()

    def _unique_for_customer(self, item: int, amount: Decimal) -> bool:
        customer = self.invoices[item].customer_id
        return sum(1 for i in self.by_customer[customer] if self.remaining[i] == amount) == 1

    def _combination(self, line: BankLine, customer: str) -> Proposal | None:
        """One payment for several invoices of the payer: a combination summing to the amount."""
        pool = [
            i
            for i in self.by_customer[customer]
            if self.remaining[i] > ZERO and self.invoices[i].currency == line.currency
        ][: self.policy.combination_pool]
        tol = self._tolerance(line.amount)
        amounts = [self.remaining[i] for i in pool]
        fits = []
        for size in range(2, min(self.policy.max_combination, len(pool)) + 1):
            # combinations of the invoices and of their amounts come in the same order; the amounts'
            # sum runs in C, not through a generator, for up to hundreds of combinations per line
            combos = zip(itertools.combinations(pool, size), itertools.combinations(amounts, size), strict=True)
            for combo, parts in combos:
                if abs(sum(parts, ZERO) - line.amount) <= tol:
                    fits.append(combo)
                    if len(fits) > 1:
                        break
            if fits:
                break
        if not fits:
            return None
        items = list(fits[0])
        total = sum((self.remaining[i] for i in items), ZERO)
        evidence = [self._amount_evidence(line.amount, total, "", code="amount_sum")]
        name = self._name_evidence(line, items[0])[0]
        if name is not None:
            evidence.append(name)
        if len(fits) == 1:
            evidence.append(Evidence("unique_amount", f"the only combination of {len(items)} open invoices"))
        else:
            evidence.append(Evidence("ambiguous", "several combinations of open invoices fit"))
        score = confidence(evidence) * (1.0 if len(fits) == 1 else 0.5)
        return self._allocate(line, items, evidence, score, [])

    def _allocate(
        self,
        line: BankLine,
        items: Sequence[int],
        evidence: list[Evidence],
        score: float,
        alternatives: Sequence[str],
    ) -> Proposal:
        remaining = self.remaining
        left = line.amount
        allocations, write_off = [], ZERO
        codes = {e.code for e in evidence}
        within = "amount_within_tolerance" in codes
        for i in items:
            open_ = remaining[i]
            amount = open_ if open_ < left else left
            if amount <= ZERO:
                break
            allocations.append(Allocation(self.invoices[i].number, amount))
            left -= amount
        if within and items and left == ZERO:
            write_off = sum((remaining[i] for i in items), ZERO) - line.amount
        if "reference" not in codes and codes.isdisjoint(AMOUNT_CODES):
            # without a valid reference, only an agreeing amount may apply itself
            score = min(score, self.policy.auto_apply_threshold - 0.01)
        proposal = self._proposal(
            line,
            allocations,
            evidence,
            score=score,
            unapplied=left,
            write_off=max(write_off, ZERO),
            alternatives=tuple(alternatives),
        )
        if proposal.decision is Decision.AUTO and not self.dry:
            # an automatic match settles at once; a proposal for review reserves nothing until confirmed
            self._settle(items, allocations, proposal.write_off)
        return proposal

    def _settle(self, items: Sequence[int], allocations: Sequence[Allocation], write_off: Decimal) -> None:
        remaining = self.remaining
        for alloc, i in zip(allocations, items, strict=False):
            remaining[i] -= alloc.amount
        if write_off > ZERO:
            last = items[len(allocations) - 1]
            remaining[last] = max(ZERO, remaining[last] - write_off)

    def _proposal(
        self,
        line: BankLine,
        allocations: list[Allocation],
        evidence: list[Evidence],
        *,
        score: float = 0.0,
        unapplied: Decimal | None = None,
        write_off: Decimal = ZERO,
        alternatives: tuple[str, ...] = (),
        force: Decision | None = None,
    ) -> Proposal:
        if force is not None:
            decision = force
        elif not allocations:
            decision = Decision.UNMATCHED
        elif score >= self.policy.auto_apply_threshold:
            decision = Decision.AUTO
        else:
            decision = Decision.REVIEW
        return Proposal(
            line_id=line.line_id,
            amount=line.amount,
            currency=line.currency,
            allocations=tuple(allocations),
            confidence=round(score, 4),
            evidence=tuple(evidence),
            decision=decision,
            unapplied=max(line.amount, ZERO) if unapplied is None else unapplied,
            write_off=write_off,
            alternatives=alternatives,
        )


def _has_reference(found: dict[int, list[Evidence]]) -> bool:
    for evidence in found.values():
        for e in evidence:
            if e.code == "reference":
                return True
    return False


def match(
    lines: Iterable[BankLine], invoices: Sequence[OpenInvoice], policy: MatchPolicy | None = None
) -> list[Proposal]:
    """Proposals for bank lines against open invoices, in line order (earlier lines settle first)."""
    matcher = Matcher(invoices, policy)
    return [matcher.match_line(line) for line in lines]


__all__ = [
    "WEIGHTS",
    "Allocation",
    "Decision",
    "Evidence",
    "MatchPolicy",
    "Matcher",
    "OpenInvoice",
    "Proposal",
    "Reading",
    "confidence",
    "match",
]
