"""Where a bank line and a cash match stand in cash application. The values are the strings
stored in `bank_lines.status` and `cash_matches.status`, so they never change.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from handoff.cash.domain.bank import BankLine
from handoff.cash.domain.policy import Decision


class LineStatus(enum.StrEnum):
    NEW = "new"  # a booked credit waiting for cash application
    IGNORED = "ignored"  # money out, or not booked yet: not for cash application
    APPLIED = "applied"  # settled invoices through its match
    REVIEW = "review"  # its proposal waits for a person
    UNMATCHED = "unmatched"  # the finance owner allocates it by hand


class MatchStatus(enum.StrEnum):
    PENDING_REVIEW = "pending_review"  # a proposal a person confirms or rejects
    APPLIED = "applied"  # its payments are recorded
    REJECTED = "rejected"  # a person said no; the line went to the finance owner
    UNDONE = "undone"  # applied, then reversed by payments of the opposite sign
    UNMATCHED = "unmatched"  # no candidate invoice


def arrival_status(line: BankLine) -> LineStatus:
    """A stored line waits for cash application when it is money received and booked."""
    return LineStatus.NEW if line.is_credit and line.booked else LineStatus.IGNORED


# Where a matcher's decision leaves the new match and its line.
OUTCOME: Mapping[Decision, tuple[MatchStatus, LineStatus]] = {
    Decision.AUTO: (MatchStatus.APPLIED, LineStatus.APPLIED),
    Decision.REVIEW: (MatchStatus.PENDING_REVIEW, LineStatus.REVIEW),
    Decision.UNMATCHED: (MatchStatus.UNMATCHED, LineStatus.UNMATCHED),
}
