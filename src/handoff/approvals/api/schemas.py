"""API models of approvals: the credit-note request (reason, quantities per invoice line), a
contract's terms review (its findings), the decisions on them, and an approval as it stands (who
asked, who decided, the credit note made)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, WithJsonSchema

from handoff.web.schemas import In, Out, Page, Text

LINE_NO, QUANTITY = r"^[1-9][0-9]{0,3}$", r"^[0-9]{1,9}(\.[0-9]{1,4})?$"
LineNo = Annotated[str, StringConstraints(pattern=LINE_NO)]
Quantity = Annotated[str, StringConstraints(pattern=QUANTITY)]
# Documented as validated: every key a line number (not only keys that look like one).
Quantities = Annotated[
    dict[LineNo, Quantity],
    WithJsonSchema(
        {
            "type": "object",
            "propertyNames": {"pattern": LINE_NO, "description": "an invoice line's number (`line_no`)"},
            "additionalProperties": {"type": "string", "pattern": QUANTITY},
        }
    ),
]


class CreditNoteIn(In):
    reason: Text = Field(min_length=1, description="why the invoice is credited; printed on the credit note")
    quantities: Quantities | None = Field(
        None, description="invoice line number -> quantity to credit; omitted: all that is left uncredited"
    )


class DecisionIn(In):
    note: Text = ""


class RejectionIn(In):
    note: Text = Field(min_length=1, description="why: the requester is told")


class VoidIn(In):
    reason: Text = Field(min_length=1, description="why the draft must not be issued: the requester is told")


class AmendmentOrigin(Out):
    task_id: int = Field(description="the review of an amended deal that asked for this credit")
    deal_id: str


class TermsFinding(Out):
    code: str = Field(description="stable finding code, e.g. discount_above_limit, payment_terms_beyond_limit")
    field: str = Field(description="the contract field it concerns, e.g. lines[L1].discount")
    message: str


class ApprovalPayload(Out):
    reason: str
    quantities: dict[str, str]
    gross: str = Field(description="credit_note: the credit's gross; contract_terms: the contract's planned value")
    currency: str
    amendment: AmendmentOrigin | None = Field(None, description="set when an amendment's review asked for it")
    findings: list[TermsFinding] | None = Field(None, description="contract_terms: what goes beyond the policy")
    owner: str | None = Field(None, description="contract_terms: the deal owner, who may not approve")


class Approval(Out):
    id: int
    kind: Literal["credit_note", "contract_terms"]
    subject: str = Field(description="the invoice number (credit_note) or the contract id (contract_terms)")
    invoice_id: int | None = Field(description="the id of the invoice credited")
    payload: ApprovalPayload
    status: Literal["pending", "approved", "rejected"]
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str | None
    result_invoice_id: int | None = Field(description="the credit-note draft made on approval")
    result_status: Literal["draft", "issued", "void"] | None = Field(description="that credit note's document status")


class ApprovalPage(Page):
    items: list[Approval]
