"""Accounting mappings in handoff.yaml are checked at load: a bad entry is refused naming it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from handoff.config import DEFAULTS, ConfigError, load_business_config


def config_with(tmp_path: Path, connectors: dict[str, object]) -> Path:
    data = yaml.safe_load((DEFAULTS / "handoff.yaml").read_text(encoding="utf-8"))
    data["connectors"] = {**data["connectors"], **connectors}
    path = tmp_path / "handoff.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_the_default_configuration_maps_nothing_per_entity() -> None:
    connectors = load_business_config().model.connectors
    assert connectors.xero.entities == {} and connectors.quickbooks.entities == {}


@pytest.mark.parametrize(
    ("connectors", "names"),
    [
        ({"xero": {"account_codes": {"XX": "4300"}}}, ["connectors.xero.account_codes", "'XX'"]),
        ({"xero": {"tax_types": {"S:seven": "OUTPUT3"}}}, ["connectors.xero.tax_types", "'S:seven'"]),
        (
            {"xero": {"entities": {"ACME-DE": {"account_codes": {"AE": ""}}}}},
            ["connectors.xero.entities.ACME-DE.account_codes", "'AE'"],
        ),
        ({"xero": {"entities": {"ACME-DE": {"tenant_id": ""}}}}, ["connectors.xero.entities.ACME-DE.tenant_id"]),
        ({"xero": {"entities": {"ACME-XX": {"tenant_id": "t"}}}}, ["connectors.xero.entities", "ACME-XX"]),
        ({"quickbooks": {"tax_codes": {"Q": "7"}}}, ["connectors.quickbooks.tax_codes", "'Q'"]),
        (
            {"quickbooks": {"entities": {"ACME-DE": {"item_ids": {"S:-7": "17"}}}}},
            ["connectors.quickbooks.entities.ACME-DE.item_ids", "'S:-7'"],
        ),
        ({"quickbooks": {"entities": {"ACME-ZZ": {"realm_id": "1"}}}}, ["connectors.quickbooks.entities", "ACME-ZZ"]),
        ({"quickbooks": {"entities": {"ACME-DE": {"realm": "1"}}}}, ["connectors.quickbooks.entities.ACME-DE.realm"]),
    ],
)
def test_a_bad_mapping_is_refused_at_load_naming_the_entry(
    tmp_path: Path, connectors: dict[str, object], names: list[str]
) -> None:
    with pytest.raises(ConfigError) as refused:
        load_business_config(config_with(tmp_path, connectors))
    for name in names:
        assert name in str(refused.value)


def test_a_good_mapping_loads(tmp_path: Path) -> None:
    model = load_business_config(
        config_with(
            tmp_path,
            {
                "xero": {
                    "entities": {"ACME-DE": {"tenant_id": "t-de", "account_codes": {"S:7": "4300", "AE": "4336"}}}
                },
                "quickbooks": {"entities": {"ACME-US": {"realm_id": "r-us", "tax_codes": {"S": "TAX"}}}},
            },
        )
    ).model
    assert model.connectors.xero.entities["ACME-DE"].tenant_id == "t-de"
    assert model.connectors.quickbooks.entities["ACME-US"].realm_id == "r-us"
