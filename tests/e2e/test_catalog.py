"""The catalog over real HTTP (SQLite and PostgreSQL) and from the command line (a real
subprocess): everyone reads it, only finance and admins change it, refusals name the field, and
each change is a new version audited with the user."""

from __future__ import annotations

from pathlib import Path

from handoff.users.service import Role
from tests.e2e.conftest import EMAILS, Site
from tests.e2e.test_cli import run, said
from tests.e2e.test_cli_amendments import add_user


def test_the_catalog_api_reads_for_all_and_writes_for_finance(site: Site) -> None:
    with site.client(Role.FINANCE) as api:
        made = api.put("/api/v1/catalog/products/SUP-STD", json={"name": "Standard support", "unit_code": "MON"})
        assert made.status_code == 200, made.text
        assert made.json() == {"sku": "SUP-STD", "version": 1, "changed": True, "created": True}
        same = api.put("/api/v1/catalog/products/SUP-STD", json={"name": "Standard support"}).json()
        assert (same["version"], same["changed"]) == (1, False)
        price = api.put("/api/v1/catalog/products/SUP-STD/prices/eur", json={"unit_price": "99.50"})
        assert price.status_code == 200, price.text
        assert (price.json()["currency"], price.json()["unit_price"], price.json()["changed"]) == ("EUR", "99.50", True)

        bad = api.put("/api/v1/catalog/products/SUP-STD", json={"unit_code": "QQQ"})  # the form of a code, no code
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "unit_code", bad.text
        assert "product SUP-STD: unit_code 'QQQ' is not a UN/ECE Rec 20 unit code" in bad.json()["error"]["message"]
        long = api.put("/api/v1/catalog/products/SUP-STD", json={"unit_code": "hours"})  # refused by the schema
        assert long.status_code == 422 and long.json()["error"]["field"] == "unit_code", long.text
        unknown = api.put("/api/v1/catalog/products/NOPE/prices/EUR", json={"unit_price": "1"})
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
        assert api.put("/api/v1/catalog/products/SUP-STD/prices/EUR", json={"unit_price": "1,5"}).status_code == 422
        new = api.put("/api/v1/catalog/products/NEW", json={"unit_code": "C62"})
        assert new.status_code == 422 and new.json()["error"]["field"] == "name"

    with site.client(Role.SALES) as api:
        listed = api.get("/api/v1/catalog/products").json()
        assert [(p["sku"], p["unit_code"], p["version"]) for p in listed["items"]] == [("SUP-STD", "MON", 1)]
        shown = api.get("/api/v1/catalog/products/SUP-STD").json()
        assert [(p["currency"], p["unit_price"]) for p in shown["prices"]] == [("EUR", "99.50")]
        assert shown["versions"][0]["created_by"] == f"user:{EMAILS[Role.FINANCE]}"
        assert api.get("/api/v1/catalog/products/NOPE").status_code == 404
        refused = api.put("/api/v1/catalog/products/SUP-STD", json={"name": "Cheap support"})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    with site.client(Role.AUDITOR) as api:
        assert api.put("/api/v1/catalog/products/SUP-STD/prices/EUR", json={"unit_price": "1"}).status_code == 403
    with site.client(Role.ADMIN) as api:
        changed = api.put("/api/v1/catalog/products/SUP-STD", json={"name": "Support", "reason": "rename"}).json()
        assert (changed["version"], changed["changed"]) == (2, True)
        versions = api.get("/api/v1/catalog/products/SUP-STD").json()["versions"]
        assert [(v["version"], v["created_by"], v["reason"]) for v in versions][-1] == (
            2,
            f"user:{EMAILS[Role.ADMIN]}",
            "rename",
        )


def test_the_catalog_commands_need_a_finance_or_admin_actor(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'h.db'}"
    add_user(db, "fin@acme.example", "finance", tmp_path)
    add_user(db, "sam@acme.example", "sales", tmp_path)

    sales = run(
        "catalog", "set", "SUP-STD", "--name", "Support", "--actor", "sam@acme.example", "--db", db, cwd=tmp_path
    )
    assert sales.returncode == 2 and "this needs finance or admin" in said(sales) + sales.stderr
    made = run(
        "catalog", "set", "SUP-STD", "--name", "Support", "--unit", "MON", "--revenue-rule", "ratable",
        "--actor", "fin@acme.example", "--db", db, cwd=tmp_path,
    )  # fmt: skip
    assert made.returncode == 0 and "SUP-STD: added, version 1" in said(made), made.stderr
    price = run(
        "catalog", "price", "SUP-STD", "--currency", "EUR", "--price", "100", "--from", "2027-01-01",
        "--actor", "fin@acme.example", "--db", db, cwd=tmp_path,
    )  # fmt: skip
    assert price.returncode == 0 and "EUR 100 from 2027-01-01" in said(price), price.stderr
    bad = run("catalog", "set", "SUP-STD", "--unit", "hours", "--actor", "fin@acme.example", "--db", db, cwd=tmp_path)
    assert bad.returncode == 2 and "unit_code 'hours' is not a UN/ECE Rec 20 unit code" in " ".join(bad.stderr.split())

    catalog = tmp_path / "catalog.csv"
    catalog.write_text("sku,name,unit_code,currency,unit_price\nIMPL,Implementation day,DAY,EUR,1450\nX,,C62,,\n")
    refused = run("catalog", "import", str(catalog), "--actor", "fin@acme.example", "--db", db, cwd=tmp_path)
    assert refused.returncode == 2 and "row 3: name is missing" in refused.stderr, refused.stderr
    catalog.write_text("sku,name,unit_code,currency,unit_price\nIMPL,Implementation day,DAY,EUR,1450\n")
    imported = run("catalog", "import", str(catalog), "--actor", "fin@acme.example", "--db", db, cwd=tmp_path)
    assert "1 products added" in said(imported), imported.stderr

    listed = run("catalog", "list", "--db", db, cwd=tmp_path)
    assert "IMPL" in listed.stdout and "SUP-STD" in listed.stdout and "2 products" in said(listed)
    shown = run("catalog", "show", "SUP-STD", "--db", db, cwd=tmp_path)
    assert "fin@acme.example" in said(shown) and "100" in said(shown), shown.stderr
