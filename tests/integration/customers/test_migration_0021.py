"""Migration 0021 on both engines: every customer already stored gets version 1 (valid since
always, as its `customers` row says) and its CRM id where one of its orders came from a CRM; the
master then reads and changes it; a downgrade drops the two tables and keeps `customers`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import Engine, inspect

from handoff.config import load_business_config
from handoff.context import AppContext
from handoff.customers.domain import SINCE_ALWAYS
from handoff.customers.service import get_customer, update_customer
from handoff.kernel.storage.db import alembic_config, make_engine, upgrade
from tests.conftest import AUDIT_KEYS, Clock, scratch_pg_database

AT = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
CUSTOMERS = sa.table(
    "customers",
    *(sa.column(n) for n in ("customer_id", "legal_name", "country", "vat_id", "is_business", "billing_email")),
    sa.column("updated_at", sa.DateTime),
)
ORDERS = sa.table(
    "orders",
    *(sa.column(n) for n in ("deal_id", "source", "state", "version_event", "customer_id", "customer_name")),
    *(sa.column(n) for n in ("legal_entity", "owner_email", "currency")),
    sa.column("data", sa.JSON),
    *(sa.column(n, sa.DateTime) for n in ("version_at", "received_at", "updated_at")),
)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
        yield engine
        engine.dispose()
        return
    with scratch_pg_database("handoff_migrate") as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


def test_0021_backfills_version_1_and_crm_ids_and_goes_down_again(empty_engine: Engine) -> None:
    upgrade(empty_engine, "0020")
    naive = AT.replace(tzinfo=None)
    with empty_engine.begin() as conn:
        conn.execute(
            CUSTOMERS.insert(),
            [
                {"customer_id": "C-1", "legal_name": "Kestrel Labs GmbH", "country": "DE", "vat_id": "DE136695976",
                 "is_business": True, "billing_email": "ap@kestrel.de", "updated_at": naive},
                {"customer_id": "C-2", "legal_name": "Olive SA", "country": "", "vat_id": "EL094014201",
                 "is_business": True, "billing_email": "", "updated_at": naive},
            ],
        )  # fmt: skip
        common = {
            **{"state": "sent", "customer_name": "x", "legal_entity": "ACME-DE", "owner_email": "a@x"},
            **{"currency": "EUR", "data": {}, "version_at": naive, "received_at": naive, "updated_at": naive},
        }
        conn.execute(
            ORDERS.insert(),
            [
                {"deal_id": "D-1", "source": "hubspot", "version_event": "1", "customer_id": "C-1", **common},
                {"deal_id": "D-2", "source": "file:deals.csv", "version_event": "2", "customer_id": "C-2", **common},
                {"deal_id": "D-3", "source": "tax-retry", "version_event": "3", "customer_id": "C-2", **common},
                {"deal_id": "D-4", "source": "salesforce", "version_event": "4", "customer_id": "C-9", **common},
            ],
        )
    upgrade(empty_engine)
    with empty_engine.connect() as conn:
        versions = {r.customer_id: r for r in conn.execute(sa.text("SELECT * FROM customer_versions"))}
        links = [
            tuple(r)
            for r in conn.execute(sa.text("SELECT source, external_id, customer_id FROM customer_external_ids"))
        ]
    assert set(versions) == {"C-1", "C-2"} and {r.version for r in versions.values()} == {1}
    assert links == [("hubspot", "C-1", "C-1")]  # C-9 has no customer row; files and retries are no CRM

    ctx = AppContext(empty_engine, load_business_config(), Clock(AT), audit_keys=AUDIT_KEYS)
    shown = get_customer(ctx, "C-1")
    assert shown is not None and shown.record is not None and shown.version is not None
    assert (shown.version.version, shown.version.valid_from) == (1, SINCE_ALWAYS)
    assert shown.record.vat_ids == {"DE": "DE136695976"} and shown.record.billing_email == "ap@kestrel.de"
    assert shown.record.external_ids == {"hubspot": "C-1"}
    olive = get_customer(ctx, "C-2")
    assert olive is not None and olive.record is not None and olive.record.vat_ids == {"GR": "EL094014201"}
    assert update_customer(ctx, "C-1", {"invoice_language": "de"}, actor="user:f@x", reason="German").version == 2

    command.downgrade(alembic_config(empty_engine), "0020")
    tables = set(inspect(empty_engine).get_table_names())
    assert "customers" in tables and not {"customer_versions", "customer_external_ids"} & tables
    upgrade(empty_engine)
