"""A CRM source's mapping file: where its deals' fields and lines are, and which of its properties
each status fact goes to when handoff writes invoice and payment status back to the deal.

Every CRM source reads one (syntax of the rules in `mapping.py`):

```yaml
version: 1
source: hubspot                 # the source it is for (a vendor's file must name that vendor)
fields: {deal_id: deal.id, amount: deal.properties.amount | amount, ...}
custom: {hubspot_deal_id: deal.id}
lines:                          # optional: the deal's lines
  items: line_items             # path to the list of line objects in the fetched document
  fields: {description: properties.name, quantity: properties.quantity | number, ...}
  tax_categories: {"19": standard, "7": reduced}   # the CRM's value -> product tax category
status:                         # optional: status fact -> the CRM's property or field
  invoice_number: handoff_invoice_number
  as_of: handoff_status_as_of   # the time of the status: an older one never overwrites a newer
```

The built-in files are `defaults/crm/<source>.yaml`; `HANDOFF_<SOURCE>_MAPPING` names another
(see `bootstrap`). A file is validated when it is loaded: a bad one is refused naming the file and
the entry (`status.overdue_day: not a status fact`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from handoff.deals.connectors.mapping import FieldMap, LineMap, MappingError

DEFAULTS = Path(__file__).resolve().parents[2] / "defaults" / "crm"

# What handoff knows of an invoice and may write back onto its deal (`deals.service.crm_status`).
STATUS_FACTS: tuple[str, ...] = (
    "invoice_number",
    "invoice_status",  # issued
    "payment_state",  # unpaid | partial | paid | credited | overdue
    "open_amount",  # gross - paid - credited (invoicing's ledger)
    "paid_amount",
    "credited_amount",
    "gross_amount",
    "currency",
    "due_date",
    "overdue_days",  # days past the due date while something is open, else 0
    "disputed",  # true while the invoice is disputed
    "reminder_level",  # the highest dunning level sent, 0 for none
    "as_of",  # when this status was true: the guard against an older one overwriting a newer
)


class MappingFileError(Exception):
    """The mapping file cannot be read or does not validate; the message names the file and entry."""


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LinesModel(StrictModel):
    items: str
    fields: dict[str, str]
    tax_categories: dict[str | int | float, str] = {}


class BaseMappingModel(StrictModel):
    version: Literal[1]
    source: str = "generic"
    fields: dict[str, str]
    custom: dict[str, str] = {}
    lines: LinesModel | None = None


class SourceModel(BaseMappingModel):
    status: dict[str, str] = {}


@dataclass(frozen=True)
class SourceMapping:
    """A CRM source's mapping as loaded: fields, lines (None: the source brings none), status
    properties by fact, and the file it came from (for messages)."""

    source: str
    fields: FieldMap
    lines: LineMap | None = None
    status: Mapping[str, str] = field(default_factory=dict)
    path: str = ""


M = TypeVar("M", bound=BaseModel)


def read_model(path: Path, model: type[M]) -> M:
    """The YAML file at `path` validated as `model`; MappingFileError naming the file and entry."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MappingFileError(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise MappingFileError(f"{path}: not valid YAML: {exc}") from exc
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise MappingFileError(f"{path}: {where}: {message}") from None


def parse_maps(path: Path, model: BaseMappingModel) -> tuple[FieldMap, LineMap | None]:
    """The field and line maps of a validated file; MappingFileError naming the entry."""
    try:
        fields = FieldMap.parse(model.fields, model.custom)
        lines = (
            LineMap.parse(
                model.lines.items, model.lines.fields, {str(k): v for k, v in model.lines.tax_categories.items()}
            )
            if model.lines is not None
            else None
        )
    except MappingError as exc:
        raise MappingFileError(f"{path}: {exc}") from None
    return fields, lines


def load_source_mapping(path: Path, source: str) -> SourceMapping:
    """The mapping file of CRM source `source` (its `source:` entry must name it)."""
    model = read_model(path, SourceModel)
    if "source" in model.model_fields_set and model.source != source:
        raise MappingFileError(f"{path}: source: {model.source!r}, but this file is read for {source!r}")
    for fact, target in model.status.items():
        if fact not in STATUS_FACTS:
            raise MappingFileError(f"{path}: status.{fact}: not a status fact; known: {', '.join(STATUS_FACTS)}")
        if not target.strip():
            raise MappingFileError(f"{path}: status.{fact}: names no property or field")
    fields, lines = parse_maps(path, model)
    return SourceMapping(source, fields, lines, dict(model.status), str(path))


@cache
def default_mapping(source: str) -> SourceMapping:
    """The built-in mapping of `source` (`defaults/crm/<source>.yaml`)."""
    return load_source_mapping(DEFAULTS / f"{source}.yaml", source)
