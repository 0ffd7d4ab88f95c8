"""The 13-week cash forecast and its backtest, pure (`reporting.forecast`, `reporting.forecast_backtest`),
against buckets and errors computed by hand. The forecast runs from Wednesday 6 January 2027: week 1
is Monday 4 January."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from handoff.reporting.forecast import (
    ForecastError,
    ForecastInputs,
    Line,
    OpenReceivable,
    PaidInvoice,
    PipelineDeal,
    PlannedMilestone,
    ScheduledBilling,
    Source,
    acceptance_likelihood,
    days_late,
    forecast,
    median_days,
    split_cents,
)
from handoff.reporting.forecast_backtest import LedgerInvoice, Settlement, backtest, inputs_at

AS_OF = date(2027, 1, 6)  # a Wednesday


def paid(customer: str, late: int, n: int) -> list[PaidInvoice]:
    due = [date(2026, 10, 10 + k) for k in range(n)]
    return [PaidInvoice(customer, d, d + timedelta(days=late)) for d in due]


# C-LATE pays 10 days late (3 invoices: its own samples), C-PROMPT on the day (3), C-NEW paid one
# invoice 4 days late (too few: the portfolio's samples 0 0 0 4 10 10 10; median 4 days)
HISTORY = [*paid("C-LATE", 10, 3), *paid("C-PROMPT", 0, 3), *paid("C-NEW", 4, 1)]


def inputs(**more: object) -> ForecastInputs:
    base: dict[str, object] = {
        "as_of": AS_OF,
        "history": HISTORY,
        "receivables": [
            OpenReceivable("INV-1", "C-LATE", "EUR", Decimal("1000.00"), date(2027, 1, 15), date(2026, 12, 16)),
            OpenReceivable("INV-2", "C-PROMPT", "EUR", Decimal("500.00"), date(2027, 1, 8), date(2026, 12, 9)),
            OpenReceivable("INV-3", "C-NEW", "EUR", Decimal("300.00"), date(2027, 1, 12), date(2026, 12, 13)),
            OpenReceivable("INV-4", "C-LATE", "EUR", Decimal("200.00"), date(2026, 12, 1), date(2026, 11, 1)),
        ],
    }
    return ForecastInputs(**{**base, **more})  # type: ignore[arg-type]


def amounts(week_amounts: dict[Source, Decimal]) -> dict[str, Decimal]:
    return {s.value: v for s, v in week_amounts.items() if v}


def test_days_late_are_the_customers_own_median_from_three_paid_invoices_else_the_portfolios() -> None:
    portfolio, own = days_late(HISTORY)
    assert portfolio == 4
    assert own == {"C-LATE": 10, "C-PROMPT": 0}
    assert median_days([1, 2]) == 2  # 1.5 days: half up
    assert median_days([]) is None


def test_receivables_are_spread_over_the_weeks_of_due_date_plus_each_days_late_sample() -> None:
    f = forecast(inputs())
    assert f.first_week == date(2027, 1, 4)
    [eur] = f.currencies
    assert len(eur.weeks) == 13 and eur.weeks[-1].start == date(2027, 3, 29)
    # INV-2 due Fri 8 Jan, C-PROMPT's samples 0 0 0: week 1; INV-1 due 15 Jan + 10 10 10 = Mon 25 Jan: week 4.
    # INV-3 (C-NEW: the portfolio's 7 samples) due Tue 12 Jan: + 0 0 0 and + 4 (16 Jan) in week 2, + 10 10 10
    # (Fri 22 Jan) in week 3: 30,000 cents x 4/7 = 17,142 r 6, x 3/7 = 12,857 r 1; the cent left goes to the
    # larger remainder: 171.43 + 128.57 = 300.00. (The median rule put all 300.00 in week 2.)
    # INV-4 due 1 Dec, 36 days past due, later than each of C-LATE's 10 10 10: overdue
    assert amounts(eur.weeks[0].amounts) == {"receivables": Decimal("500.00")}
    assert amounts(eur.weeks[1].amounts) == {"receivables": Decimal("171.43")}
    assert amounts(eur.weeks[2].amounts) == {"receivables": Decimal("128.57")}
    assert amounts(eur.weeks[3].amounts) == {"receivables": Decimal("1000.00")}
    assert eur.overdue == Decimal("200.00") and eur.disputed == 0 and eur.doubtful == 0
    assert eur.total == Decimal("1800.00") and eur.beyond == 0
    [inv1] = [r for r in f.receipts if r.reference == "INV-1"]
    assert inv1.expected_on == date(2027, 1, 25)
    inv3 = [(r.expected_on, r.amount, r.weight) for r in f.receipts if r.reference == "INV-3"]
    assert inv3 == [
        (date(2027, 1, 12), Decimal("171.43"), Decimal("0.5714")),  # dated on the week's first sample day
        (date(2027, 1, 22), Decimal("128.57"), Decimal("0.4286")),
    ]
    [inv4] = [r for r in f.receipts if r.reference == "INV-4"]
    assert inv4.line is Line.OVERDUE and inv4.overdue and inv4.expected_on == date(2026, 12, 1)


# C-SPREAD paid three invoices 0, 10 and 20 days late
SPREAD = [
    PaidInvoice("C-SPREAD", date(2026, 10, 10), date(2026, 10, 10)),
    PaidInvoice("C-SPREAD", date(2026, 10, 20), date(2026, 10, 30)),
    PaidInvoice("C-SPREAD", date(2026, 10, 21), date(2026, 11, 10)),
]


def spread_of(receivable: OpenReceivable, **more: object) -> list[tuple[date, Decimal]]:
    f = forecast(ForecastInputs(AS_OF, receivables=[receivable], history=SPREAD, **more))  # type: ignore[arg-type]
    return [(r.expected_on, r.amount) for r in f.receipts if r.line is None]


def test_an_invoice_not_due_yet_gets_an_equal_share_on_each_of_its_customers_samples() -> None:
    # due Mon 11 Jan: + 0 = 11 Jan (week 2), + 10 = Thu 21 Jan (week 3), + 20 = Sun 31 Jan (week 4);
    # 10,000 cents / 3 = 3,333 r 1 each: the cent left goes to the earliest tie
    due = OpenReceivable("INV-S", "C-SPREAD", "EUR", Decimal("100.00"), date(2027, 1, 11), date(2026, 12, 11))
    assert spread_of(due) == [
        (date(2027, 1, 11), Decimal("33.34")),
        (date(2027, 1, 21), Decimal("33.33")),
        (date(2027, 1, 31), Decimal("33.33")),
    ]


def test_an_invoice_past_due_counts_only_the_samples_it_has_not_outlived() -> None:
    # due 22 Dec, 15 days past due on 6 Jan: not paid after 15 days, so only the 20-day sample is left:
    # all of it on 11 Jan (week 2)
    late = OpenReceivable("INV-15", "C-SPREAD", "EUR", Decimal("250.00"), date(2026, 12, 22), date(2026, 11, 22))
    assert spread_of(late) == [(date(2027, 1, 11), Decimal("250.00"))]
    # due 27 Dec, 10 days past due: it can still be paid today (10 days late, week 1) or on 16 Jan (20):
    # half each of 10,001 cents = 5,000 r 1 each, the cent to the earlier
    ten = OpenReceivable("INV-10", "C-SPREAD", "EUR", Decimal("100.01"), date(2026, 12, 27), date(2026, 11, 27))
    assert spread_of(ten) == [(AS_OF, Decimal("50.01")), (date(2027, 1, 16), Decimal("50.00"))]
    # due 12 Dec, 25 days past due: later than every sample, so the overdue line, in no week
    gone = OpenReceivable("INV-25", "C-SPREAD", "EUR", Decimal("70.00"), date(2026, 12, 12), date(2026, 11, 12))
    f = forecast(ForecastInputs(AS_OF, receivables=[gone], history=SPREAD))
    assert f.currencies[0].overdue == Decimal("70.00") and f.currencies[0].total == 0


def test_a_disputed_invoice_and_one_past_due_too_long_are_lines_not_weeks() -> None:
    disputed = OpenReceivable(
        "INV-D", "C-SPREAD", "EUR", Decimal("400.00"), date(2027, 1, 11), date(2026, 12, 11), disputed=True
    )
    # due 7 Oct, 91 days past due: doubtful (more than the default 90)
    old = OpenReceivable("INV-O", "C-OTHER", "EUR", Decimal("90.00"), date(2026, 10, 7), date(2026, 9, 7))
    # C-SLOW paid 30, 45 and 60 days late
    slow_history = [PaidInvoice("C-SLOW", date(2026, 9, 1), date(2026, 9, 1) + timedelta(days=n)) for n in (30, 45, 60)]
    slow = OpenReceivable("INV-W", "C-SLOW", "EUR", Decimal("60.00"), date(2026, 11, 27), date(2026, 10, 28))
    f = forecast(ForecastInputs(AS_OF, receivables=[disputed, old, slow], history=[*SPREAD, *slow_history]))
    [eur] = f.currencies
    assert (eur.disputed, eur.doubtful, eur.overdue) == (Decimal("400.00"), Decimal("90.00"), Decimal("0.00"))
    # INV-W is 40 days past due: the 45 and 60 day samples left, on 11 and 26 January
    assert eur.total == Decimal("60.00") and eur.weeks[1].total == Decimal("30.00")
    assert {r.reference: r.line for r in f.receipts if r.line} == {"INV-D": Line.DISPUTED, "INV-O": Line.DOUBTFUL}
    # the threshold is the business's: 30 days makes INV-W doubtful too
    stricter = forecast(
        ForecastInputs(AS_OF, receivables=[slow], history=slow_history, doubtful_after_days=30)
    ).currencies[0]
    assert (stricter.doubtful, stricter.total) == (Decimal("60.00"), Decimal("0.00"))


def test_split_cents_adds_up_exactly_by_largest_remainder() -> None:
    assert split_cents(Decimal("0.10"), [1, 1, 1]) == [Decimal("0.04"), Decimal("0.03"), Decimal("0.03")]
    # remainders 4, 6, 4 (of 7): the two cents left go to the 6, then to the earlier 4
    assert split_cents(Decimal("1000.22"), [3, 1, 3]) == [Decimal("428.67"), Decimal("142.89"), Decimal("428.66")]
    for amount in ("0.01", "99.99", "12345.67", "-10.00", "7"):
        for counts in ([1], [2, 5], [3, 3, 1, 9], [1] * 11):
            parts = split_cents(Decimal(amount), counts)
            assert sum(parts) == Decimal(amount) and all(p == p.quantize(Decimal("0.01")) for p in parts)
    with pytest.raises(ValueError, match="positive sum"):
        split_cents(Decimal(1), [0, 0])


def test_only_invoices_settled_in_the_last_year_are_samples() -> None:
    # C-OLD paid 3 invoices 60 days late more than a year ago: no samples now, so the portfolio's (none: 0)
    old = [PaidInvoice("C-OLD", date(2025, 10, 1), date(2025, 11, 30)) for _ in range(3)]
    inv = OpenReceivable("INV-N", "C-OLD", "EUR", Decimal("10.00"), date(2027, 1, 8), date(2026, 12, 8))
    f = forecast(ForecastInputs(AS_OF, receivables=[inv], history=old))
    assert f.portfolio_days_late is None and f.customer_days_late == {}
    assert [(r.expected_on, r.amount) for r in f.receipts] == [(date(2027, 1, 8), Decimal("10.00"))]


def test_a_milestone_at_0_7_a_pipeline_deal_at_0_4_and_currencies_kept_apart() -> None:
    milestone = PlannedMilestone(
        "contract C-1 milestone:M2", "C-PROMPT", "EUR", date(2027, 1, 20), Decimal("10000.05"), 14
    )
    deal = PipelineDeal("D-9", "C-X", "USD", date(2027, 1, 4), Decimal("2500.55"), Decimal("0.4"), 30)
    f = forecast(inputs(milestones=[milestone], pipeline=[deal]))
    eur, usd = f.currencies
    assert (eur.currency, usd.currency) == ("EUR", "USD")
    # accepted 20 Jan, due after 14 days on 3 Feb, C-PROMPT pays on the day: week 5 (1 Feb);
    # 10,000.05 x 0.7 = 7,000.035 -> 7,000.04 (cents, half up)
    assert amounts(eur.weeks[4].amounts) == {"milestones": Decimal("7000.04")}
    # the close date has passed: invoiced today (6 Jan), due Fri 5 Feb; C-X has no history, so the
    # portfolio's samples: + 0 0 0 (5 Feb, week 5), + 4 (9 Feb, week 6), + 10 10 10 (15 Feb, week 7);
    # 2,500.55 x 0.4 = 1,000.22 split 3:1:3 = 100,022 cents -> 42,866 r 4, 14,288 r 6, 42,866 r 4; the two
    # cents left go to the remainder 6, then to the earlier 4. (The median rule put it all in week 6.)
    assert amounts(usd.weeks[4].amounts) == {"pipeline": Decimal("428.67")}
    assert amounts(usd.weeks[5].amounts) == {"pipeline": Decimal("142.89")}
    assert amounts(usd.weeks[6].amounts) == {"pipeline": Decimal("428.66")}
    assert usd.total == Decimal("1000.22") and usd.overdue == 0
    assert eur.total == Decimal("8800.04")  # the USD deal is in no EUR week
    assert f.milestone_likelihood == Decimal("0.7")


def test_scheduled_billing_is_paid_after_terms_and_days_late_and_past_13_weeks_is_beyond() -> None:
    soon = ScheduledBilling(
        "contract C-2 line L1 2027-01", "C-LATE", "EUR", date(2027, 1, 31), Decimal("1190.00"), True, 30
    )
    late_bill = ScheduledBilling(
        "contract C-2 line L1 2027-04", "C-LATE", "EUR", date(2027, 4, 1), Decimal("50.00"), False, 30
    )
    missed = ScheduledBilling(
        "contract C-2 line L1 2026-12", "C-PROMPT", "EUR", date(2026, 12, 20), Decimal("70.00"), False, 0
    )
    f = forecast(inputs(receivables=[], scheduled=[soon, late_bill, missed]))
    [eur] = f.currencies
    # 31 Jan + 30 days = 2 Mar, + 10 days late = 12 Mar: week 10 (8 Mar)
    assert amounts(eur.weeks[9].amounts) == {"scheduled_billing": Decimal("1190.00")}
    # a bill date the billing run has passed is billed today, terms 0: week 1
    assert amounts(eur.weeks[0].amounts) == {"scheduled_billing": Decimal("70.00")}
    assert eur.beyond == Decimal("50.00")  # 1 Apr + 40 days: after 4 April


def test_an_early_payer_never_pays_before_the_invoice_is_issued() -> None:
    early = [*paid("C-EARLY", -20, 3)]
    item = ScheduledBilling("s", "C-EARLY", "EUR", date(2027, 1, 13), Decimal("10.00"), False, 14)
    f = forecast(ForecastInputs(AS_OF, history=early, scheduled=[item]))
    assert f.receipts[0].expected_on == date(2027, 1, 13)  # not 13 + 14 - 20 = 7 January


def test_bad_input_names_the_record_and_the_field() -> None:
    deal = PipelineDeal("D-7", "C", "EUR", AS_OF, Decimal("10"), Decimal("1.5"), 30)
    with pytest.raises(ForecastError, match=r"deal D-7: probability must be between 0 and 1, not 1.5"):
        forecast(ForecastInputs(AS_OF, pipeline=[deal]))
    item = ScheduledBilling("contract C-3 line L1", "C", "EUR", AS_OF, Decimal("10"), False, -1)
    with pytest.raises(ForecastError, match=r"contract C-3 line L1: payment_terms_days must not be negative"):
        forecast(ForecastInputs(AS_OF, scheduled=[item]))


def test_acceptance_likelihood_is_configured_else_on_time_history_else_0_7() -> None:
    history = [
        (date(2026, 11, 1), date(2026, 10, 30)),  # on time
        (date(2026, 11, 15), date(2026, 11, 20)),  # late
        (date(2026, 12, 1), None),  # not accepted
        (date(2026, 12, 10), date(2026, 12, 10)),  # on time
        (date(2027, 2, 1), None),  # not due yet: not counted
    ]
    assert acceptance_likelihood(history, AS_OF) == Decimal("0.5000")
    assert acceptance_likelihood(history[:2], AS_OF) == Decimal("0.7")  # too few
    assert acceptance_likelihood(history, AS_OF, Decimal("0.9")) == Decimal("0.9")


# --- backtest: three invoices of one customer, cut-offs Monday 11 and 18 January ------------------

LEDGER = [
    # issued 4 Jan, due 18 Jan, paid Wed 20 Jan
    LedgerInvoice("A", "C", "EUR", date(2027, 1, 4), date(2027, 1, 18), Decimal("100.00"),
                  (Settlement(date(2027, 1, 20), Decimal("100.00")),)),
    # issued 5 Jan, due 12 Jan, paid Tue 26 Jan
    LedgerInvoice("B", "C", "EUR", date(2027, 1, 5), date(2027, 1, 12), Decimal("50.00"),
                  (Settlement(date(2027, 1, 26), Decimal("50.00")),)),
    # issued 13 Jan (after the first cut-off), due 27 Jan, paid 14 Jan: 13 days early
    LedgerInvoice("C", "C", "EUR", date(2027, 1, 13), date(2027, 1, 27), Decimal("30.00"),
                  (Settlement(date(2027, 1, 14), Decimal("30.00")),)),
]  # fmt: skip
CUTOFFS = [date(2027, 1, 11), date(2027, 1, 18)]


def test_inputs_at_a_cutoff_know_only_what_was_issued_and_paid_before_it() -> None:
    first = inputs_at(CUTOFFS[0], LEDGER)
    assert [r.invoice_number for r in first.receivables] == ["A", "B"] and not first.history
    second = inputs_at(CUTOFFS[1], LEDGER)
    assert [r.invoice_number for r in second.receivables] == ["A", "B"]
    assert second.history == [PaidInvoice("C", date(2027, 1, 27), date(2027, 1, 14))]


def test_backtest_errors_per_horizon_match_a_hand_calculation() -> None:
    # 11 Jan, no history (0 days late): A expected 18 Jan (week 2), B 12 Jan (week 1); received: week 1
    # 30 (C, unknown then), week 2 100 (A), week 3 50 (B). Errors: 20, 0, 50.
    # 18 Jan, C paid 13 days early (portfolio sample -13): B (due 12 Jan, 6 days past due) is later than
    # it: overdue, in no week; A is due today and unpaid, so -13 is outlived too, but not past due: on its
    # due date, week 1 (the median rule had put it on 5 Jan: overdue). Received: week 1 100 (A), week 2 50
    # (B). Errors: 0, 50, 0. Week 1: |50 - 30| + |100 - 100| = 20 over 2 cut-offs, 20 / 130 received.
    b = backtest(CUTOFFS, LEDGER)
    h1, h2, h3, h4 = b.by_currency["EUR"][:4]
    assert (h1.forecast, h1.actual, h1.mae, h1.wape) == (
        Decimal("150.00"),
        Decimal("130.00"),
        Decimal("10.00"),
        Decimal("0.1538"),
    )
    assert (h2.forecast, h2.actual, h2.mae, h2.wape) == (
        Decimal("100.00"),
        Decimal("150.00"),
        Decimal("25.00"),
        Decimal("0.3333"),
    )
    assert (h3.mae, h3.wape) == (Decimal("25.00"), Decimal("1.0000"))
    assert (h4.mae, h4.wape, h4.cutoffs) == (Decimal("0.00"), None, 2)
    assert b.detail[CUTOFFS[0]]["EUR"][:3] == [
        (Decimal("50.00"), Decimal("30.00")),
        (Decimal("100.00"), Decimal("100.00")),
        (Decimal("0"), Decimal("50.00")),
    ]


def test_backtest_compares_only_weeks_that_have_ended() -> None:
    b = backtest(CUTOFFS, LEDGER, through=date(2027, 1, 25))
    rows = b.by_currency["EUR"]
    # 11 Jan reaches two complete weeks by 25 Jan, 18 Jan one
    assert [(r.horizon, r.cutoffs) for r in rows] == [(1, 2), (2, 1)]
    assert rows[1].mae == Decimal("0.00")  # only the 11 Jan cut-off: 100 forecast, 100 received


def test_a_dispute_counts_from_the_day_it_was_opened() -> None:
    disputed = LedgerInvoice("X", "C", "EUR", date(2027, 1, 4), date(2027, 1, 18), Decimal("80.00"),
                             disputed_on=date(2027, 1, 15))  # fmt: skip
    [before] = inputs_at(CUTOFFS[0], [disputed]).receivables
    [after] = inputs_at(CUTOFFS[1], [disputed]).receivables
    assert (before.disputed, after.disputed) == (False, True)
    b = backtest(CUTOFFS, [disputed])
    # 11 Jan: expected on its due date, week 2; 18 Jan: on the disputed line, in no week
    assert [f for f, _ in b.detail[CUTOFFS[0]]["EUR"][:2]] == [Decimal("0"), Decimal("80.00")]
    assert all(f == 0 for f, _ in b.detail[CUTOFFS[1]]["EUR"])


def test_a_payment_that_is_not_cash_is_not_received() -> None:
    written_off = LedgerInvoice("W", "C", "EUR", date(2027, 1, 4), date(2027, 1, 18), Decimal("10.00"),
                                (Settlement(date(2027, 1, 19), Decimal("10.00"), cash=False),))  # fmt: skip
    b = backtest([date(2027, 1, 11)], [written_off])
    assert b.detail[date(2027, 1, 11)]["EUR"][1] == (Decimal("10.00"), Decimal("0"))
