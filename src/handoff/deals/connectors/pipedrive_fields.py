"""Pipedrive's custom fields by name (pipedrive.readme.io/docs/core-api-concepts-custom-fields).

Custom fields are keyed by 40-character hashes that differ per account. Their names come from v1
`GET /api/v1/dealFields`, `/organizationFields`, `/personFields` (developers.pipedrive.com/docs/api/
v1/DealFields: `key`, `name`, `field_type`, `options`, paged by `start` / `limit`), kept in
`connector_state` (`FieldCatalog`): a record's `custom_fields` then also carries each value under its
name in lower case with `_` for spaces and punctuation ("VAT ID" -> `vat_id`), an option field's
under its option labels. A list is read again when a record carries a key it does not have (a field
created since), when a mapped name is missing from it (at most every 15 minutes) and once a day.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from handoff.deals.connectors import parse_instant
from handoff.kernel.connectors.oauth import TokenState

logger = logging.getLogger("handoff.connectors.pipedrive")

# The document's parts and the field list of each ("deal" is also the write-back's).
FIELD_LISTS = {"deal": "dealFields", "org": "organizationFields", "person": "personFields"}
PAGE = 500  # Pipedrive's largest page
REREAD_DAILY = timedelta(days=1)
REREAD_FOR_NAME = timedelta(minutes=15)
_KEY = re.compile(r"^[0-9a-f]{40}$")


def field_name(name: str) -> str:
    """A field's name as mappings write it: lower case, `_` for spaces and punctuation."""
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


@dataclass(frozen=True)
class CustomField:
    key: str
    name: str  # as Pipedrive shows it
    field_type: str
    options: Mapping[str, str]  # option id (as text) -> label

    @property
    def slug(self) -> str:
        return field_name(self.name)

    def value(self, raw: Any) -> Any:
        """The value as a mapping reads it: option labels for option fields, else as given."""
        if self.field_type == "enum" and raw is not None:
            return self.options.get(str(raw), raw)
        if self.field_type == "set" and raw is not None:
            ids = raw if isinstance(raw, list) else str(raw).split(",")
            return ", ".join(self.options.get(str(i).strip(), str(i).strip()) for i in ids if str(i).strip())
        return raw

    def option_id(self, label: str) -> int | str | None:
        """The id of the option labelled `label` (case-insensitive), for writing an option field."""
        for option_id, option_label in self.options.items():
            if option_label.strip().lower() == label.strip().lower():
                return int(option_id) if option_id.isdigit() else option_id
        return None


class FieldCatalog:
    """Pipedrive's custom fields of deals, organizations and persons, by key and by name, kept in
    `state` (the database's `connector_state` in production, so the workers share one read)."""

    def __init__(
        self,
        get: Callable[[str, Mapping[str, str]], Any],
        state: TokenState,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._get, self.state, self.clock = get, state, clock

    def fields(
        self, part: str, *, keys: Iterable[str] = (), names: Iterable[str] = (), force: bool = False
    ) -> dict[str, CustomField]:
        """The custom fields of `part` (deal, org, person) by key, read again when `keys` (seen on a
        record) are not all listed or, now and then, when `names` (mapped) are not; `force`: now."""
        saved = self.state.load(f"pipedrive:fields:{part}") or {}
        listed = {f["key"]: f for f in saved.get("fields") or []}
        read_at = parse_instant(saved.get("read_at"))
        age = self.clock() - read_at if read_at else None
        unlisted = set(saved.get("unlisted") or ())
        missing_keys = {k for k in keys if _KEY.match(k) and k not in listed}
        slugs = {field_name(str(f.get("name") or "")) for f in listed.values()}
        missing_names = {n for n in names if n not in slugs and n not in listed}
        if (
            force
            or age is None
            or age > REREAD_DAILY
            or (missing_keys - unlisted)
            or (missing_names and age > REREAD_FOR_NAME)
        ):
            fetched = self._read(FIELD_LISTS[part])
            listed = {f["key"]: f for f in fetched}
            self.state.save(
                f"pipedrive:fields:{part}",
                {
                    "read_at": self.clock().isoformat(),
                    "fields": fetched,
                    "unlisted": sorted(k for k in missing_keys if k not in listed),
                },
            )
        return {
            key: CustomField(
                key,
                str(f.get("name") or ""),
                str(f.get("field_type") or ""),
                {str(o.get("id")): str(o.get("label") or "") for o in f.get("options") or [] if isinstance(o, Mapping)},
            )
            for key, f in listed.items()
        }

    def _read(self, endpoint: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        start = 0
        while True:
            body = self._get(f"/api/v1/{endpoint}", {"start": str(start), "limit": str(PAGE)}) or {}
            for f in body.get("data") or []:
                if isinstance(f, Mapping) and f.get("key"):
                    options = [
                        {"id": o.get("id"), "label": o.get("label")}
                        for o in f.get("options") or []
                        if isinstance(o, Mapping)
                    ]
                    out.append(
                        {
                            "key": str(f["key"]),
                            "name": f.get("name"),
                            "field_type": f.get("field_type"),
                            "options": options,
                        }
                    )
            pagination = (body.get("additional_data") or {}).get("pagination") or {}
            if not pagination.get("more_items_in_collection") or pagination.get("next_start") is None:
                return out
            start = int(pagination["next_start"])

    def named(self, part: str, values: Mapping[str, Any], names: Iterable[str] = ()) -> dict[str, Any]:
        """`values` (a record's `custom_fields`) with each value also under its field's name; an
        ambiguous name (two fields that read the same) is left out, with a warning."""
        catalog = self.fields(part, keys=values, names=names)
        out = dict(values)
        seen: dict[str, str] = {}
        for key, raw in values.items():
            f = catalog.get(key)
            if f is None or not f.slug:
                continue
            if f.slug in seen and seen[f.slug] != key:
                logger.warning("pipedrive: %s fields %r share the name %r; it is not mapped", part, f.name, f.slug)
                out.pop(f.slug, None)
                continue
            seen[f.slug] = key
            out[f.slug] = f.value(raw)
        return out

    def find(self, part: str, name: str) -> CustomField | None:
        """The field named `name` (as shown, as a mapping writes it, or by its key); the list is
        read again once when it has no such field."""
        wanted = field_name(name)
        for force in (False, True):
            catalog = self.fields(part, names=[wanted], force=force)
            found = catalog.get(name) or next((f for f in catalog.values() if f.slug == wanted), None)
            if found is not None:
                return found
        return None
