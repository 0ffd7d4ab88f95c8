"""The database schema (SQLAlchemy Core tables). Alembic migrations are generated from it.

Every external id is kept as received (`deal_id`, `customer_id`) and unique; surrogate integer
keys are internal only.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)

from handoff.kernel.storage.types import Amount, Json, UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Every delivery of a deal version, stored before it is processed (the inbox pattern).
inbox = Table(
    "inbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("source", String(330), nullable=False),  # a CRM or file, or `user:ADDRESS` for a person's fix
    Column("event_id", String(200), nullable=False),
    Column("deal_id", String(200), nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("payload", Json, nullable=False),
    Column("status", String(16), nullable=False),  # pending | applied | stale | failed
    Column("processed_at", UTCDateTime),
    Column("error", Text),
    UniqueConstraint("source", "event_id", name="uq_inbox_source_event"),
    Index("ix_inbox_pending", "status", "id"),
)

customers = Table(
    "customers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("customer_id", String(200), nullable=False, unique=True),
    Column("legal_name", String(300), nullable=False),
    Column("country", String(2), nullable=False),
    Column("vat_id", String(40), nullable=False),
    Column("is_business", Boolean, nullable=False),
    Column("billing_email", String(320), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

orders = Table(
    "orders",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("deal_id", String(200), nullable=False, unique=True),
    Column("source", String(40), nullable=False),
    Column("state", String(16), nullable=False),
    Column("version_at", UTCDateTime, nullable=False),  # occurred_at of the applied version
    Column("version_event", String(200), nullable=False),  # its event id (tie-break)
    Column("data", Json, nullable=False),  # the DealInput fields as received
    Column("customer_id", String(200), nullable=False),
    Column("customer_name", String(300), nullable=False),
    Column("legal_entity", String(40), nullable=False),
    Column("owner_email", String(320), nullable=False),
    Column("amount", Amount),
    Column("currency", String(3), nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("ready_at", UTCDateTime),
    Column("invoiced_at", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False),
    # facts the automation metrics need, kept as the flow runs instead of derived at read time
    Column("had_exception", Boolean, nullable=False, server_default=false()),
    Column("touched_by_person", Boolean, nullable=False, server_default=false()),
    # invoiced_at - the start of the deal's close date (UTC), else - received_at; whole seconds, >= 0
    Column("cycle_seconds", BigInteger),
    Column("cycle_basis", String(16)),  # what cycle_seconds runs from: close_date | intake
    # list indexes follow the lists' sort order (newest first), so a page is an index range scan
    Index("ix_orders_received", "received_at", "id"),
    Index("ix_orders_state", "state", "received_at", "id"),
    Index("ix_orders_owner", "owner_email", "received_at", "id"),
    Index("ix_orders_customer", "customer_id"),
    # covers the cycle-time metrics on PostgreSQL (an index-only scan of the window)
    Index(
        "ix_orders_invoiced",
        "invoiced_at",
        postgresql_include=["cycle_seconds", "cycle_basis", "had_exception", "touched_by_person"],
    ),
    Index(
        "ix_orders_had_exception", "state", postgresql_where=text("had_exception"), sqlite_where=text("had_exception")
    ),
    # PostgreSQL also has trigram indexes on deal_id, customer_name and owner_email for text
    # search (migration 0006; pg_trgm).
)

# Orders per (state, had_exception) as signed deltas, appended by triggers on `orders` (migration
# 0007) in the writer's own transaction: the dashboard sums a few rows instead of counting every
# order, and concurrent writers never wait on one counter row. `metrics.compact_state_counts`
# folds the deltas now and then.
order_state_counts = Table(
    "order_state_counts",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("had_exception", Boolean, nullable=False),
    Column("n", BigInteger, nullable=False),
)

# The exception queue: at most one open exception per order, with its current problems.
exceptions = Table(
    "exceptions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("order_id", Integer, ForeignKey("orders.id"), nullable=False),
    Column("deal_id", String(200), nullable=False),
    Column("owner", String(320), nullable=False),
    Column("problems", Json, nullable=False),
    Column("status", String(16), nullable=False),  # open | resolved
    Column("opened_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("resolved_at", UTCDateTime),
    # "|field|code|..." of the current problems, so the queue filters by reason in SQL on both engines
    Column("reasons", String(1000), nullable=False, server_default=""),
    Index("ix_exceptions_queue", "status", "opened_at", "id"),
    Index("ix_exceptions_status_owner", "status", "owner", "opened_at"),
    Index("ix_exceptions_order", "order_id"),
)

# Finance tasks; one per order and kind, reopened rather than duplicated.
tasks = Table(
    "tasks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("order_id", Integer, ForeignKey("orders.id"), nullable=False),
    Column("deal_id", String(200), nullable=False),
    Column("kind", String(40), nullable=False),  # issue_invoice | review_amendment
    Column("status", String(16), nullable=False),  # open | done | cancelled
    Column("assignee", String(320)),
    Column("note", Text, nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("done_at", UTCDateTime),
    UniqueConstraint("order_id", "kind", name="uq_tasks_order_kind"),
    Index("ix_tasks_status", "status", "created_at", "id"),
)

invoices = Table(
    "invoices",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("draft_key", String(200), nullable=False, unique=True),  # no second invoice for one order
    Column("number", String(60), unique=True),  # assigned on issue
    Column("kind", String(16), nullable=False),
    Column("status", String(16), nullable=False),  # draft | issued | void
    Column("payment_state", String(16), nullable=False),  # unpaid | partial | paid | credited
    Column("legal_entity", String(40), nullable=False),
    Column("customer_id", String(200), nullable=False),
    Column("customer_name", String(300), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("net_amount", Amount, nullable=False),
    Column("tax_amount", Amount, nullable=False),
    Column("gross_amount", Amount, nullable=False),
    Column("paid_amount", Amount, nullable=False),
    # credit notes' credit allocated to this invoice (see credit_allocations); open = gross - paid - credited
    Column("credited_amount", Amount, nullable=False, server_default="0"),
    Column("issue_date", Date),
    Column("due_date", Date),
    Column("payment_reference", String(40)),
    Column("document", Json, nullable=False),  # the full invoice, with its tax evidence
    Column("created_at", UTCDateTime, nullable=False),
    Column("issued_at", UTCDateTime),
    # the e-invoice validation report it was issued on: rule set releases and findings (NULL before 0018)
    Column("einvoice_validation", Json),
    Index("ix_invoices_status", "status", "payment_state"),
    # open issued invoices by due date: what overdue amounts and dunning read
    Index(
        "ix_invoices_open_due",
        "currency",
        "due_date",
        postgresql_include=["gross_amount", "paid_amount", "credited_amount"],
        postgresql_where=text("status = 'issued' AND payment_state IN ('unpaid', 'partial')"),
        sqlite_where=text("status = 'issued' AND payment_state IN ('unpaid', 'partial')"),
    ),
    # a customer's open invoices: the customer master's open balance (migration 0024)
    Index(
        "ix_invoices_open_customer",
        "customer_id",
        "currency",
        postgresql_where=text("status = 'issued' AND kind = 'invoice' AND payment_state IN ('unpaid', 'partial')"),
        sqlite_where=text("status = 'issued' AND kind = 'invoice' AND payment_state IN ('unpaid', 'partial')"),
    ),
    # issued credit notes by customer: where a customer's credit balance comes from
    Index(
        "ix_invoices_credit_notes",
        "customer_id",
        postgresql_where=text("kind = 'credit_note' AND status = 'issued'"),
        sqlite_where=text("kind = 'credit_note' AND status = 'issued'"),
    ),
)

invoice_orders = Table(
    "invoice_orders",
    metadata,
    Column("invoice_id", Integer, ForeignKey("invoices.id"), primary_key=True),
    Column("order_id", Integer, ForeignKey("orders.id"), primary_key=True),
    Index("ix_invoice_orders_order", "order_id"),
)

# An issued invoice's billing contact as finance changed it after issue (at most one row per
# invoice: the current one; each change is in the audit trail with before and after). Its e-mails
# and reminders go here; the issued document keeps the contact it was issued to. No row: as issued.
invoice_contacts = Table(
    "invoice_contacts",
    metadata,
    Column("invoice_id", Integer, ForeignKey("invoices.id"), primary_key=True),
    Column("billing_email", String(320), nullable=False),
    Column("billing_contact_name", String(300), nullable=False),
    Column("reason", Text, nullable=False),
    Column("changed_by", String(320), nullable=False),
    Column("changed_at", UTCDateTime, nullable=False),
)

# Sensitive steps wait here for a second person (four-eyes): the requester never decides.
# `status` moves from pending exactly once, by a conditional UPDATE, so two deciders cannot both win.
approvals = Table(
    "approvals",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(32), nullable=False),  # credit_note
    Column("subject", String(200), nullable=False),  # the invoice number; a contract id (migration 0023)
    Column("payload", Json, nullable=False),  # what was asked: reason, quantities
    Column("status", String(16), nullable=False),  # pending | approved | rejected
    Column("requested_by", String(320), nullable=False),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("decided_by", String(320)),
    Column("decided_at", UTCDateTime),
    Column("decision_note", Text),
    Column("result_invoice_id", Integer, ForeignKey("invoices.id")),  # the credit-note draft it made
    Index("ix_approvals_status", "status", "requested_at"),
    Index("ix_approvals_subject", "kind", "subject"),
)

# Where issued credit notes' credit went: to the invoice a credit note corrects (`corrected`, on
# issue), from the customer's balance to another open invoice (`applied`), or back to the customer
# (`refund`, no invoice). A credit note's remaining credit is its gross less its allocations; the
# sum over a customer's credit notes of one entity and currency is the customer's credit balance.
credit_allocations = Table(
    "credit_allocations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("allocation_key", String(120), nullable=False, unique=True),  # once only; the accounting push's key
    Column("credit_note_id", Integer, ForeignKey("invoices.id"), nullable=False),
    Column("invoice_id", Integer, ForeignKey("invoices.id")),  # the invoice it settles (none for a refund)
    Column("kind", String(16), nullable=False),  # corrected | applied | refund
    Column("amount", Amount, nullable=False),
    Column("allocated_on", Date, nullable=False),
    Column("reference", String(200), nullable=False, server_default=""),  # a refund's bank reference
    Column("note", Text, nullable=False, server_default=""),
    Column("created_by", String(320), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_credit_allocations_credit_note", "credit_note_id"),
    Index("ix_credit_allocations_invoice", "invoice_id"),
)

# How finance resolved the review of a deal amended after invoicing (a `review_amendment` task):
# billed the difference (its invoice draft), credited it (its credit-note requests) or dismissed it,
# by whom, when, why, against which deal version, with the difference as it stood (and the price
# adjustment lines of a difference invoice). A mixed change is resolved in two steps, and a later
# amendment reopens the task: each step is one row.
amendment_resolutions = Table(
    "amendment_resolutions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("task_id", Integer, ForeignKey("tasks.id"), nullable=False),
    Column("order_id", Integer, ForeignKey("orders.id"), nullable=False),
    Column("deal_id", String(200), nullable=False),
    Column("version_event", String(200), nullable=False),  # the deal version it was taken against
    Column("action", String(16), nullable=False),  # bill | credit | dismiss
    Column("reason", Text, nullable=False),
    Column("resolved_by", String(320), nullable=False),
    Column("resolved_at", UTCDateTime, nullable=False),
    Column("invoice_id", Integer, ForeignKey("invoices.id")),  # bill: the invoice draft for the difference
    Column("approval_ids", Json, nullable=False),  # credit: its credit-note requests
    Column("difference", Json, nullable=False),
    Index("ix_amendment_resolutions_task", "task_id", "id"),
    Index("ix_amendment_resolutions_order", "order_id"),
)

# Gapless numbering: one counter row per entity, series and year, updated under a row lock.
invoice_sequences = Table(
    "invoice_sequences",
    metadata,
    Column("legal_entity", String(40), primary_key=True),
    Column("series", String(8), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("last_number", Integer, nullable=False),
)

# EU distance sales (goods and digital services to consumers in other member states, Art. 59c
# Directive 2006/112/EC) per selling entity and calendar year, net in EUR: the running total the
# EUR 10,000 threshold is judged by. Changed only in the issuing transaction, under a row lock
# (credit notes subtract), so invoices issued at the same time see each other's sales.
distance_sales_totals = Table(
    "distance_sales_totals",
    metadata,
    Column("legal_entity", String(40), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("total_eur", Amount, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

payments = Table(
    "payments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("payment_key", String(100), nullable=False, unique=True),  # re-import is a no-op
    Column("invoice_id", Integer, ForeignKey("invoices.id"), nullable=False),
    Column("amount", Amount, nullable=False),
    Column("paid_on", Date, nullable=False),
    Column("source", String(200), nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Index("ix_payments_invoice", "invoice_id"),
)

# Side effects, written in the same transaction as the state change that asks for them.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(200), nullable=False, unique=True),  # idempotency key
    Column("channel", String(20), nullable=False),  # email | log
    Column("topic", String(40), nullable=False),
    Column("payload", Json, nullable=False),
    Column("status", String(16), nullable=False),  # pending | delivered | dead
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("claimed_by", String(80)),
    Column("claimed_until", UTCDateTime),
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime),
    Index("ix_outbox_due", "status", "next_attempt_at"),
)

# Hash-chained audit trail; `audit_head` records the last entry so a deleted tail is detected.
# `key_id`: the key of an entry's HMAC (kernel.audit scheme 2); empty for entries hashed before keying.
audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("at", String(40), nullable=False),
    Column("actor", String(320), nullable=False),
    Column("action", String(60), nullable=False),
    Column("entity_type", String(40), nullable=False),
    Column("entity_id", String(200), nullable=False),
    Column("reason", Text, nullable=False),
    Column("before", Json),
    Column("after", Json),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("key_id", String(16), nullable=False, server_default=""),
    Index("ix_audit_entity", "entity_type", "entity_id"),
)

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("key_id", String(16), nullable=False, server_default=""),
)

# Per-connector state that must survive restarts and be shared by workers: OAuth token sets
# (refresh tokens rotate on use), polling cursors. Secret values: never logged or shown.
connector_state = Table(
    "connector_state",
    metadata,
    Column("name", String(80), primary_key=True),
    Column("value", Json, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# The last invoice and payment status queued for each CRM deal handoff writes back to
# (`connectors.crm_writeback`): a change is queued only when its facts differ from these, so the same
# state twice is sent once; `version` numbers the notices (in their outbox key).
crm_status = Table(
    "crm_status",
    metadata,
    Column("target", String(40), primary_key=True),  # hubspot | pipedrive | salesforce
    Column("crm_deal_id", String(200), primary_key=True),  # the deal's id in that CRM
    Column("version", Integer, nullable=False),
    Column("digest", String(64), nullable=False),  # SHA-256 of the facts that make the state
    Column("invoice_number", String(60), nullable=False),
    Column("facts", Json, nullable=False),  # as queued
    Column("queued_at", UTCDateTime, nullable=False),
)

# Scheduled jobs run once per period however many workers run: the first to insert wins.
job_runs = Table(
    "job_runs",
    metadata,
    Column("job", String(40), primary_key=True),
    Column("period", String(40), primary_key=True),
    Column("worker", String(80), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
)

# --- cash: bank statements, cash application, disputes, dunning ----------------------------------

# One imported statement (camt.053 / MT940 / OFX / CSV); the same statement imported again is ignored.
bank_statements = Table(
    "bank_statements",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("statement_key", String(64), nullable=False, unique=True),  # hash of account + statement id
    Column("format", String(20), nullable=False),
    Column("statement_id", String(200), nullable=False),
    Column("account", String(60), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("opening", Amount),
    Column("closing", Amount),
    Column("balance_status", String(16), nullable=False),  # ok | mismatch | unknown
    Column("source", String(300), nullable=False),
    Column("imported_by", String(320), nullable=False),
    Column("imported_at", UTCDateTime, nullable=False),
)

# Its movements. `line_id` is stable across re-imports (see domain.bank.line_identity).
bank_lines = Table(
    "bank_lines",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("line_id", String(64), nullable=False, unique=True),
    Column("statement_id", Integer, ForeignKey("bank_statements.id"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("amount", Amount, nullable=False),  # signed: positive = money received
    Column("currency", String(3), nullable=False),
    Column("booking_date", Date),
    Column("value_date", Date),
    Column("counterparty_name", String(300), nullable=False),
    Column("counterparty_account", String(60), nullable=False),
    Column("remittance", Text, nullable=False),
    Column("structured_reference", String(60), nullable=False),
    Column("bank_reference", String(200), nullable=False),
    Column("end_to_end_id", String(200), nullable=False),
    Column("booked", Boolean, nullable=False),
    # new | applied | review | unmatched | ignored (debits, pending entries)
    Column("status", String(16), nullable=False),
    Column("owner", String(320)),  # who allocates it by hand when nothing matched
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_bank_lines_status", "status"),
    Index("ix_bank_lines_statement", "statement_id"),
)

# Cash application: one row per proposal for a line. At most one is applied or pending review at
# a time; undone and rejected ones stay as history.
cash_matches = Table(
    "cash_matches",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("bank_line_id", Integer, ForeignKey("bank_lines.id"), nullable=False),
    Column("decision", String(16), nullable=False),  # auto | review | unmatched
    Column("status", String(16), nullable=False),  # applied | pending_review | rejected | undone | unmatched
    Column("confidence", Float, nullable=False),
    Column("evidence", Json, nullable=False),
    Column("alternatives", Json, nullable=False),
    Column("unapplied", Amount, nullable=False),  # overpayment left on account
    Column("proposed_at", UTCDateTime, nullable=False),
    Column("decided_by", String(320)),  # the person (or automation) that applied or rejected it
    Column("decided_at", UTCDateTime),
    Column("undone_by", String(320)),
    Column("undone_at", UTCDateTime),
    Index("ix_cash_matches_status", "status"),
    Index("ix_cash_matches_line", "bank_line_id"),
)

cash_allocations = Table(
    "cash_allocations",
    metadata,
    Column("match_id", Integer, ForeignKey("cash_matches.id"), primary_key=True),
    Column("invoice_id", Integer, ForeignKey("invoices.id"), primary_key=True),
    Column("amount", Amount, nullable=False),
    Column("write_off", Amount, nullable=False),  # short payment accepted as paid (bank fee, FX)
    Index("ix_cash_allocations_invoice", "invoice_id"),
)

# An invoice the customer disputes gets no reminders until the dispute is cleared.
invoice_disputes = Table(
    "invoice_disputes",
    metadata,
    Column("invoice_id", Integer, ForeignKey("invoices.id"), primary_key=True),
    Column("reason", Text, nullable=False),
    Column("opened_by", String(320), nullable=False),
    Column("opened_at", UTCDateTime, nullable=False),
)

# A customer whose reminders are paused, until a date or until lifted.
dunning_pauses = Table(
    "dunning_pauses",
    metadata,
    Column("customer_id", String(200), primary_key=True),
    Column("until", Date),
    Column("reason", Text, nullable=False),
    Column("paused_by", String(320), nullable=False),
    Column("paused_at", UTCDateTime, nullable=False),
)

# Reminders sent: one row per invoice and level, so a level is never sent twice.
dunning_reminders = Table(
    "dunning_reminders",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("invoice_id", Integer, ForeignKey("invoices.id"), nullable=False),
    Column("level", Integer, nullable=False),
    Column("tone", String(16), nullable=False),
    Column("sent_on", Date, nullable=False),
    Column("sent_at", UTCDateTime, nullable=False),
    Column("recipients", Json, nullable=False),
    Column("outbox_key", String(200), nullable=False),
    UniqueConstraint("invoice_id", "level", name="uq_dunning_reminders_invoice_level"),
)

# People who use the web app and API. Passwords are argon2id hashes; API tokens are stored only as
# SHA-256 digests (they are long random strings, so a fast hash is enough) and shown once.
users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("role", String(16), nullable=False),  # sales | finance | auditor | admin
    Column("password_hash", String(200), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),  # first characters, to recognise a token in lists
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
    Index("ix_api_tokens_user", "user_id"),
)

# Browser sessions: the cookie carries a random secret, stored here only as its SHA-256 digest.
# Checked on every request; logout, a password change and deactivation end them (`ended_at`).
user_sessions = Table(
    "user_sessions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime),
    Column("ended_why", String(16)),  # logout | password | deactivated
    Column("address", String(64)),  # the client's address at login
    Index("ix_user_sessions_user", "user_id"),
)

# Failed logins per account (normalised e-mail, known or not) and per client address: growing
# delays and the account lock, shared by every process of the app.
login_throttles = Table(
    "login_throttles",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("scope", String(8), nullable=False),  # account | address
    Column("key", String(320), nullable=False),
    Column("failures", Integer, nullable=False),
    Column("last_attempt_at", UTCDateTime, nullable=False),
    Column("next_attempt_at", UTCDateTime),
    Column("locked_until", UTCDateTime),
    UniqueConstraint("scope", "key", name="uq_login_throttles_scope_key"),
    Index("ix_login_throttles_last_attempt", "last_attempt_at"),
)

# ---- exchange rates (migration 0019) ----

# The ECB's euro reference rates by day (`invoicing.domain.exchange_rates`): 1 `base` = `rate`
# `currency` on `rate_date`. One rate per currency and day; a different one only replaces it on request.
exchange_rates = Table(
    "exchange_rates",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("base", String(3), nullable=False),  # EUR
    Column("currency", String(3), nullable=False),
    Column("rate", Amount, nullable=False),
    Column("rate_date", Date, nullable=False),
    Column("source", String(64), nullable=False),  # ecb:<file name>
    Column("imported_at", UTCDateTime, nullable=False),
    UniqueConstraint("base", "currency", "rate_date", name="uq_exchange_rates_base_currency_date"),
    Index("ix_exchange_rates_rate_date", "rate_date"),
)

# ---- catalog (migration 0020) ----

# The product catalog (`contracts.domain.catalog`): `products` holds each SKU's current version,
# `product_versions` every version ever in force (never rewritten), price lists and rate cards
# one row per (key, currency, first day valid).
products = Table(
    "products",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sku", String(100), nullable=False, unique=True),
    Column("name", String(300), nullable=False),
    Column("unit_code", String(3), nullable=False),  # UN/ECE Rec 20 (BT-130)
    Column("tax_category", String(40), nullable=False),
    Column("gl_account", String(40), nullable=False),
    Column("revenue_rule", String(16), nullable=False),  # point_in_time | ratable | milestone | usage
    Column("active", Boolean, nullable=False),
    Column("description", Text, nullable=False),
    Column("current_version", Integer, nullable=False),
    Column("valid_from", Date, nullable=False),  # of the current version
    Column("source", String(40), nullable=False),  # manual | import | hubspot | salesforce | pipedrive
    Column("external_id", String(200), nullable=False),  # the CRM's id of the product ("" if none)
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

product_versions = Table(
    "product_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sku", String(100), ForeignKey("products.sku"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("valid_from", Date, nullable=False),
    Column("content", Json, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(330), nullable=False),
    Column("reason", Text, nullable=False),
    UniqueConstraint("sku", "version", name="uq_product_versions_sku_version"),
)

price_list_entries = Table(
    "price_list_entries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sku", String(100), ForeignKey("products.sku"), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("unit_price", Amount, nullable=False),
    Column("valid_from", Date, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(330), nullable=False),
    UniqueConstraint("sku", "currency", "valid_from", name="uq_price_list_entries_sku_currency_from"),
)

rate_cards = Table(
    "rate_cards",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("role", String(100), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("hourly_rate", Amount, nullable=False),
    Column("valid_from", Date, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(330), nullable=False),
    UniqueConstraint("role", "currency", "valid_from", name="uq_rate_cards_role_currency_from"),
)

# ---- customer master (migration 0021) ----

# The customer master (customers.domain): each change to a customer's record adds a version, never
# rewrites one; `valid_from` is the day it takes effect, `recorded_at` when it was written.
# `customers` above stays the current record's flat form that intake writes and outside checks read.
customer_versions = Table(
    "customer_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("customer_id", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("valid_from", Date, nullable=False),
    Column("content", Json, nullable=False),  # customers.domain.to_content
    Column("changed_by", String(330), nullable=False),
    Column("reason", Text, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    UniqueConstraint("customer_id", "version", name="uq_customer_versions_customer_version"),
)

# A customer's id in each source system (a CRM's company or account id): one per source and
# customer, and an id of a source names one customer only.
customer_external_ids = Table(
    "customer_external_ids",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("source", String(40), nullable=False),
    Column("external_id", String(200), nullable=False),
    Column("customer_id", String(200), nullable=False),
    Column("linked_at", UTCDateTime, nullable=False),
    UniqueConstraint("source", "external_id", name="uq_customer_external_ids_source_external"),
    UniqueConstraint("customer_id", "source", name="uq_customer_external_ids_customer_source"),
)

# ---- contracts (migration 0022) ----

# Contracts (`contracts.domain.model`): `contracts` holds each contract's header and current
# version, `contract_versions` every version ever locked (never rewritten, with its content hash),
# `schedule_items` what each line bills per period (planned | billed | superseded | intake: an order
# migrated before contracts whose deal intake still drafts), `billed_items` the exactly-once key of
# the billing run (a second row for one contract line and period cannot be written), and
# `milestone_acceptances` when a milestone was accepted (once per contract and milestone).
# No foreign key to `invoices`: intake deletes a discarded draft, which a billed item may name.
contracts = Table(
    "contracts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("contract_id", String(200), nullable=False, unique=True),  # the deal id for one from a deal
    Column("customer_id", String(200), nullable=False),
    Column("legal_entity", String(40), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("payment_terms", String(40), nullable=False),
    Column("po_number", String(200), nullable=False),
    Column("consolidate", Boolean, nullable=False),  # one invoice per customer, entity and currency per run
    Column("status", String(16), nullable=False),  # active | ended | terminated
    Column("origin", String(16), nullable=False),  # locked | order (an order migrated by 0022)
    Column("current_version", Integer, nullable=False),
    # auto-renewing lines are planned up to this day (exclusive); the billing run plans further ahead
    Column("planned_through", Date),
    # (migration 0023) pending | approved | rejected: terms awaiting the deal desk are not billed
    Column("review_state", String(16), nullable=False, server_default="approved"),
    Column("buyer", Json, nullable=False),  # the kernel.parties.Customer its invoices go to (to_jsonable)
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_contracts_customer", "customer_id"),
)

contract_versions = Table(
    "contract_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("contract_id", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("effective", Date, nullable=False),
    Column("change_order", String(200), nullable=False),
    Column("content", Json, nullable=False),  # ContractVersion.to_json()
    Column("content_hash", String(64), nullable=False),  # sha256 of its canonical JSON
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(330), nullable=False),
    UniqueConstraint("contract_id", "version", name="uq_contract_versions_contract_version"),
)

schedule_items = Table(
    "schedule_items",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("contract_id", String(200), nullable=False),
    Column("line_key", String(100), nullable=False),
    Column("period_key", String(200), nullable=False),
    Column("period_start", Date, nullable=False),
    Column("period_end", Date, nullable=False),
    Column("bill_date", Date),  # a milestone's: its acceptance day (NULL until accepted)
    Column("amount", Amount, nullable=False),  # net (BT-131)
    Column("gross", Amount, nullable=False),
    Column("discount", Amount, nullable=False),  # the line allowance (BT-136)
    Column("quantity", Amount, nullable=False),
    Column("unit_price", Amount, nullable=False),
    Column("description", Text, nullable=False),
    Column("product", String(100), nullable=False),
    Column("unit_code", String(3), nullable=False),
    Column("tax_category", String(40), nullable=False),
    Column("supply", String(40), nullable=False),
    Column("trigger", String(16), nullable=False),  # date | milestone | time | usage | change_order
    Column("status", String(16), nullable=False),  # planned | billed | superseded | intake
    Column("version", Integer, nullable=False),
    Column("invoice_id", Integer),
    Column("note", Text, nullable=False, server_default=""),  # the invoice line's note (BT-127): its source
    Column("detail", Json),  # delivered entries it bills (invoice annex rows), NULL for a contract's own items
    UniqueConstraint("contract_id", "line_key", "period_key", name="uq_schedule_items_contract_line_period"),
    # the billing run walks the planned items contract by contract
    Index(
        "ix_schedule_items_planned",
        "contract_id",
        "bill_date",
        postgresql_where=text("status = 'planned'"),
        sqlite_where=text("status = 'planned'"),
    ),
)

billed_items = Table(
    "billed_items",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("contract_id", String(200), nullable=False),
    Column("line_key", String(100), nullable=False),
    Column("period_key", String(200), nullable=False),
    Column("invoice_id", Integer, nullable=False),
    Column("billed_at", UTCDateTime, nullable=False),
    UniqueConstraint("contract_id", "line_key", "period_key", name="uq_billed_items_contract_line_period"),
    Index("ix_billed_items_invoice", "invoice_id"),
)

milestone_acceptances = Table(
    "milestone_acceptances",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("contract_id", String(200), nullable=False),
    Column("milestone_key", String(100), nullable=False),
    Column("accepted_on", Date, nullable=False),
    Column("accepted_by", String(330), nullable=False),
    Column("event_id", String(200), nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    UniqueConstraint("contract_id", "milestone_key", name="uq_milestone_acceptances_contract_milestone"),
)

# ---- change orders and terms review (migration 0023) ----

# Each change order applied to a contract (`contracts.domain.change_orders.ChangeOrder.to_json`),
# once per contract and key; `version` is the contract version it made. The review of a contract's
# terms is `contracts.review_state` plus an `approvals` row of kind `contract_terms`.
change_orders = Table(
    "change_orders",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("contract_id", String(200), nullable=False),
    Column("key", String(200), nullable=False),
    Column("effective", Date, nullable=False),
    Column("content", Json, nullable=False),
    Column("status", String(16), nullable=False),  # applied
    Column("version", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_by", String(330), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("contract_id", "key", name="uq_change_orders_contract_key"),
)

# ---- projects (migration 0025) ----

# Projects (`projects.domain.model`): one per contract with time-and-materials or milestone lines,
# with its plan (phases, budget, settings; `plan_version` counts its changes), the day through which
# finance closed its periods, and what its postings drew on (the time amount posted, against the
# not-to-exceed cap; the retainer's balance in hours). `project_external_ids`: its id in the project
# tool and the time trackers. `time_entries` and `expenses`: delivery signals, unique per source and
# the source's id; `revision` counts their changes, `posted_*` what the last posting billed of them
# (so an edit or a deletion after posting becomes an adjustment). `delivery_postings`: which entry
# revision went into which schedule item (exactly once per entry revision). `project_alerts`: an
# alert raised once per project, kind and key.
projects = Table(
    "projects",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("project_id", String(200), nullable=False, unique=True),  # "PRJ-" + contract id
    Column("contract_id", String(200), nullable=False, unique=True),
    Column("customer_id", String(200), nullable=False),
    Column("name", String(300), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(16), nullable=False),  # open | closed
    Column("manager_email", String(320), nullable=False),  # the plan's, kept for approvals and lists
    # the whole project (projects.domain.model.project_to_json: roles and rates, milestones, the plan)
    Column("plan", Json, nullable=False),
    Column("plan_version", Integer, nullable=False),
    Column("closed_through", Date),  # entries dated on or before it are refused
    Column("postings", Integer, nullable=False),  # postings made (numbers the period keys)
    Column("posted_time_amount", Amount, nullable=False),  # time billed so far, against the cap
    Column("retainer_hours", Amount),  # the retainer's balance in hours (NULL: not funded yet)
    Column("topups", Integer, nullable=False),  # retainer top-ups posted
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_projects_customer", "customer_id"),
)

project_external_ids = Table(
    "project_external_ids",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("project_id", String(200), nullable=False),
    Column("system", String(40), nullable=False),  # "project_tool", "harvest", "toggl", ...
    Column("external_id", String(200), nullable=False),
    Column("linked_at", UTCDateTime, nullable=False),
    UniqueConstraint("system", "external_id", name="uq_project_external_ids_system_external"),
    UniqueConstraint("project_id", "system", name="uq_project_external_ids_project_system"),
)

time_entries = Table(
    "time_entries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("project_id", String(200), nullable=False),
    Column("source", String(40), nullable=False),
    Column("external_id", String(200), nullable=False),
    Column("role", String(100), nullable=False),
    Column("person", String(330), nullable=False),
    Column("work_date", Date, nullable=False),
    Column("hours", Amount, nullable=False),
    Column("billable", Boolean, nullable=False),
    Column("notes", Text, nullable=False),
    Column("phase", String(100), nullable=False),
    Column("status", String(16), nullable=False),  # submitted | approved | rejected
    Column("deleted", Boolean, nullable=False),
    Column("revision", Integer, nullable=False),  # 1 at arrival, +1 per change (edit, approval, deletion)
    Column("source_updated_at", UTCDateTime),  # the source's last change (orders its versions)
    Column("decided_by", String(330), nullable=False),  # who approved or rejected it
    Column("reason", Text, nullable=False),  # why it was rejected
    Column("posted_revision", Integer, nullable=False),  # 0: never posted
    Column("posted_role", String(100), nullable=False),
    Column("posted_month", Date),  # the first day of the month it was posted in
    Column("posted_hours", Amount, nullable=False),  # billed as T&M (rounded, after the cap)
    Column("posted_drawn_hours", Amount, nullable=False),  # drawn from the retainer
    Column("posted_amount", Amount, nullable=False),  # posted_hours x rate, exact
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("source", "external_id", name="uq_time_entries_source_external"),
    Index("ix_time_entries_project_date", "project_id", "work_date"),
)

expenses = Table(
    "expenses",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("project_id", String(200), nullable=False),
    Column("source", String(40), nullable=False),
    Column("external_id", String(200), nullable=False),
    Column("person", String(330), nullable=False),
    Column("spent_on", Date, nullable=False),
    Column("amount", Amount, nullable=False),  # as spent, in `currency`
    Column("currency", String(3), nullable=False),
    Column("category", String(100), nullable=False),
    Column("description", Text, nullable=False),
    Column("receipt_ref", String(500), nullable=False),
    Column("tax_category", String(40), nullable=False),
    Column("billable", Boolean, nullable=False),
    Column("status", String(16), nullable=False),  # submitted | approved | rejected
    Column("deleted", Boolean, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("source_updated_at", UTCDateTime),
    Column("decided_by", String(330), nullable=False),
    Column("reason", Text, nullable=False),
    Column("posted_revision", Integer, nullable=False),
    Column("posted_month", Date),
    Column("posted_tax_category", String(40), nullable=False),
    Column("posted_amount", Amount, nullable=False),  # in the contract's currency, markup included
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("source", "external_id", name="uq_expenses_source_external"),
    Index("ix_expenses_project_date", "project_id", "spent_on"),
)

delivery_postings = Table(
    "delivery_postings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("project_id", String(200), nullable=False),
    Column("posting", Integer, nullable=False),  # the project's posting number
    Column("kind", String(16), nullable=False),  # time | expense | retainer
    Column("entry_id", Integer),  # the time entry's or expense's id (None: a retainer top-up)
    Column("revision", Integer, nullable=False),
    Column("contract_id", String(200), nullable=False),
    Column("line_key", String(100), nullable=False),
    Column("period_key", String(200), nullable=False),
    Column("hours", Amount, nullable=False),  # this revision's share (a delta for an adjustment)
    Column("amount", Amount, nullable=False),
    Column("posted_at", UTCDateTime, nullable=False),
    # an entry's revision is posted once (to each item it is part of: a role or month changed by an
    # edit is taken off one item and added to another)
    UniqueConstraint(
        "kind", "entry_id", "revision", "line_key", "period_key", name="uq_delivery_postings_entry_revision_item"
    ),
    Index("ix_delivery_postings_project", "project_id", "posting"),
)

project_alerts = Table(
    "project_alerts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("project_id", String(200), nullable=False),
    Column("kind", String(40), nullable=False),  # cap | cap_reached | burn | wip | retainer_low | ...
    Column("key", String(200), nullable=False),  # what makes it once (a threshold, a month)
    Column("message", Text, nullable=False),
    Column("detail", Json, nullable=False),
    Column("raised_at", UTCDateTime, nullable=False),
    UniqueConstraint("project_id", "kind", "key", name="uq_project_alerts_project_kind_key"),
)

# ---- delivery items (migration 0026): schedule_items.note and .detail are declared above ----

# ---- usage (migration 0027) ----

# Usage-based billing (`usage/`). `billable_metrics`: what is counted (usage.domain.metrics, versioned;
# seeded from handoff.yaml `usage.metrics`). `usage_prices`: a usage line's price when it is not the
# default (per unit at the line's unit_price, metric = the line's product). `usage_transactions`: the
# idempotency key, one row per transaction id ever accepted, with where it counted (a unique index on
# the partitioned `usage_events` would have to hold its partition key). `usage_events`: the raw events,
# kept for audit and for recomputing one aggregate; on PostgreSQL partitioned by month of `received_at`
# (migration 0027: its primary key there is (id, received_at); partitions are made by
# `usage.repository.events` as needed and dropped after `usage.retention_months`). `usage_aggregates`:
# one row per (contract, line, metric, period, group) kept as events arrive, so rating never scans raw
# events; `rated_key` is the schedule item it became. `usage_unique_values`: the values a unique-count
# aggregate holds, with how many events hold each. `usage_credits`: prepaid credits drawn per period.
billable_metrics = Table(
    "billable_metrics",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(100), nullable=False, unique=True),
    Column("name", String(300), nullable=False),
    Column("definition", Json, nullable=False),  # usage.domain.metrics.metric_to_json
    Column("version", Integer, nullable=False),  # 1, +1 per change
    Column("source", String(16), nullable=False),  # config | api | cli
    Column("updated_by", String(330), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

usage_prices = Table(
    "usage_prices",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("contract_id", String(200), nullable=False),
    Column("line_key", String(100), nullable=False),
    Column("metric", String(100), nullable=False),  # the billable metric the line bills
    Column("price", Json, nullable=False),  # usage.domain.pricing.price_to_json
    Column("version", Integer, nullable=False),
    Column("updated_by", String(330), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("contract_id", "line_key", name="uq_usage_prices_contract_line"),
)

usage_transactions = Table(
    "usage_transactions",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("transaction_id", String(200), nullable=False, unique=True),  # the idempotency key
    Column("fingerprint", String(64), nullable=False),  # SHA-256 of the event's content: same id, other content
    Column("contract_id", String(200), nullable=False),
    Column("line_key", String(100), nullable=False),
    Column("metric", String(100), nullable=False),
    Column("period", String(7), nullable=False),  # "2027-01": the aggregate it counted in
    Column("group_key", String(200)),  # NULL: filtered out by the metric (stored, counted nowhere)
    Column("value", Text, nullable=False),  # what it counted: a number, or the value a unique count counts
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),  # its raw event's partition
    Column("reverses", String(200), nullable=False),  # the transaction it cancels ('' for none)
    Column("reversed_by", String(200), nullable=False),  # the reversal that cancelled it ('' for none)
)

usage_events = Table(
    "usage_events",
    metadata,
    # PostgreSQL: PRIMARY KEY (id, received_at), the table partitioned by RANGE (received_at) (migration 0027)
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("transaction_id", String(200), nullable=False),
    Column("contract_id", String(200), nullable=False),
    Column("line_key", String(100), nullable=False),
    Column("metric", String(100), nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("period", String(7), nullable=False),
    Column("group_key", String(200)),
    Column("value", Text, nullable=False),
    Column("properties", Json, nullable=False),
    Column("reverses", String(200), nullable=False),
    Column("note", Text, nullable=False),  # "late: occurred 2027-01-30, billed in 2027-02"
    Column("source", String(100), nullable=False),  # api | file:<name> | webhook:<name>
    Column("aggregate_id", Integer),  # the usage_aggregates row it counted in (NULL: none)
    # one aggregate's events, to recompute it (max, latest after a reversal) or show them; an integer
    # key, since a five-text-column index costs the bulk insert more than the rest of the row
    Index("ix_usage_events_aggregate", "aggregate_id"),
)

usage_aggregates = Table(
    "usage_aggregates",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("contract_id", String(200), nullable=False),
    Column("line_key", String(100), nullable=False),
    Column("metric", String(100), nullable=False),
    Column("period", String(7), nullable=False),
    Column("group_key", String(200), nullable=False),  # '' when the metric is not grouped
    Column("events", Integer, nullable=False),  # events received (reversals included)
    Column("count", Integer, nullable=False),  # events counted, net of reversals
    Column("total", Amount, nullable=False),
    Column("maximum", Amount),
    Column("latest_at", UTCDateTime),
    Column("latest_txn", String(200)),
    Column("latest_value", Amount),
    Column("uniques", Integer, nullable=False),  # distinct values held (unique count)
    Column("dirty", Boolean, nullable=False),  # a reversal it cannot subtract (max, latest): recompute
    Column("rated_key", String(200)),  # the schedule item's period key it was rated into (NULL: open)
    Column("rated_at", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint(
        "contract_id", "line_key", "metric", "period", "group_key", name="uq_usage_aggregates_subscription_period_group"
    ),
    # rating walks the open aggregates by period
    Index(
        "ix_usage_aggregates_open",
        "period",
        "contract_id",
        postgresql_where=text("rated_key IS NULL"),
        sqlite_where=text("rated_key IS NULL"),
    ),
)

usage_unique_values = Table(
    "usage_unique_values",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("aggregate_id", Integer, nullable=False),
    Column("value", String(200), nullable=False),
    Column("refcount", Integer, nullable=False),  # events holding it, net of reversals
    UniqueConstraint("aggregate_id", "value", name="uq_usage_unique_values_aggregate_value"),
)

usage_credits = Table(
    "usage_credits",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("contract_id", String(200), nullable=False),
    Column("line_key", String(100), nullable=False),
    Column("period", String(7), nullable=False),
    Column("period_key", String(200), nullable=False),  # the draw-down's schedule item
    Column("drawn", Amount, nullable=False),
    Column("balance", Amount, nullable=False),  # prepaid credits left after it
    Column("drawn_at", UTCDateTime, nullable=False),
    UniqueConstraint("contract_id", "line_key", "period_key", name="uq_usage_credits_contract_line_period"),
)
