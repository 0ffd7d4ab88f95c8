"""The change order command: `handoff contracts amend ID --file CHANGE_ORDER.json|yaml --actor EMAIL
--reason TEXT`.

The file holds one change order as `ChangeOrder.to_json` writes it (key, effective, reason,
changes: add_line, remove_line, change_quantity, change_price, extend, terminate, shift_dates),
in JSON or YAML (decimals written as text). `--actor` must be an active finance or admin user,
audited with the reason. Mounted on the `contracts` group `cli_contracts` makes (or a group of its
own when there is none), by `handoff.cli`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import yaml
from rich.markup import escape

from handoff.kernel.cli_support import DbOption, fail, out
from handoff.users.service import FINANCE_ROLES, actor_email

if TYPE_CHECKING:
    from handoff.context import AppContext


def read_change_order_file(path: Path) -> Any:
    """The document in a change order file: JSON, else YAML (its dates read back as ISO text, as
    the JSON form writes them; decimals must be written as text in either)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"--file: {path} cannot be read: {exc.strerror or exc}")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        return _dates_as_text(yaml.safe_load(text))
    except yaml.YAMLError as exc:
        fail(f"--file: {path} is neither JSON nor YAML: {exc}")


def _dates_as_text(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {key: _dates_as_text(value) for key, value in doc.items()}
    if isinstance(doc, list):
        return [_dates_as_text(value) for value in doc]
    if isinstance(doc, date):
        return doc.isoformat()
    return doc


def _group(app: typer.Typer, name: str) -> typer.Typer | None:
    for info in app.registered_groups:
        if info.name == name and info.typer_instance is not None:
            return info.typer_instance
    return None


def register(app: typer.Typer, context: Callable[[str | None], AppContext]) -> None:
    contracts = _group(app, "contracts")
    if contracts is None:
        contracts = typer.Typer(help="Contracts: versions, lines, billing schedules.", no_args_is_help=True)
        app.add_typer(contracts, name="contracts")

    @contracts.command("amend")
    def amend_cmd(
        contract_id: str,
        file: Annotated[Path, typer.Option("--file", help="The change order, JSON or YAML.")],
        actor: Annotated[str, typer.Option(help="Your e-mail (audited): an active finance or admin user.")],
        reason: Annotated[str, typer.Option(help="Why (audited).")],
        db: DbOption = None,
    ) -> None:
        """Apply a change order: the contract's next version, its schedule replanned against what is billed."""
        from handoff.contracts.domain.change_orders import ChangeOrder
        from handoff.contracts.domain.model import ContractError
        from handoff.contracts.service.change_orders import amend

        doc = read_change_order_file(file)
        ctx = context(db)
        who = actor_email(ctx, actor, actor, FINANCE_ROLES)
        if not reason.strip():
            fail("--reason: is missing")
        try:
            done = amend(ctx, contract_id, ChangeOrder.from_json(doc), who, reason)
        except ContractError as exc:
            fail(str(exc))
        cid, key = escape(contract_id), escape(done.change_order)
        if done.repeated:
            out.print(f"{cid}: change order {key} already applied (version {done.version}); nothing changed")
            return
        out.print(
            f"{cid}: change order {key} made version {done.version} ({done.content_hash[:12]}); "
            f"{done.superseded} pending item(s) replaced, {done.planned} planned",
            highlight=False,
        )
        for line, period, amount in done.adjustments:
            kind = "credit" if amount < 0 else "debit"
            out.print(f"  {kind} {amount:,.2f} line {escape(line)} {escape(period)}", highlight=False)
