"""A selling entity's payment means and branding are checked when the configuration loads: an IBAN
or ABA routing number that fails its checksum, a colour that is not hex, a logo that is missing or
not an image are refused with a message naming the entity and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image

from handoff.config import DEFAULTS, ConfigError, load_business_config


def config_with(tmp_path: Path, entity: str, changes: dict[str, Any]) -> Path:
    data = yaml.safe_load((DEFAULTS / "handoff.yaml").read_text(encoding="utf-8"))
    data["legal_entities"][entity] = {**data["legal_entities"][entity], **changes}
    path = tmp_path / "handoff.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def refused(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_business_config(path)
    return str(caught.value)


@pytest.mark.parametrize(
    ("entity", "changes", "names"),
    [
        ("ACME-DE", {"iban": "DE89370400440532013001"}, ["legal_entities.ACME-DE.iban", "checksum"]),
        ("ACME-DE", {"bic": "NOTABIC"}, ["legal_entities.ACME-DE.bic"]),
        (
            "ACME-US",
            {"ach": {"routing_number": "121000249", "account_number": "4567890123"}},
            ["legal_entities.ACME-US.ach.routing_number", "checksum"],
        ),
        (
            "ACME-US",
            {"ach": {"routing_number": "121000248", "account_number": "12-34"}},
            ["legal_entities.ACME-US.ach.account_number"],
        ),
        ("ACME-US", {"payment_link": "http://pay.example/{number}"}, ["legal_entities.ACME-US.payment_link", "https"]),
        ("ACME-US", {"payment_link": "https://pay.example/{invoice}"}, ["legal_entities.ACME-US.payment_link"]),
        ("ACME-US", {"payment_reference": "rf"}, ["legal_entities.ACME-US", "IBAN"]),
        ("ACME-DE", {"payment_reference": "sometimes"}, ["legal_entities.ACME-DE.payment_reference"]),
        ("ACME-DE", {"branding": {"primary_colour": "blue"}}, ["legal_entities.ACME-DE.branding.primary_colour"]),
        ("ACME-DE", {"branding": {"accent_colour": "#12345"}}, ["legal_entities.ACME-DE.branding.accent_colour"]),
        ("ACME-DE", {"branding": {"logo": "nowhere.png"}}, ["legal_entities.ACME-DE.branding.logo", "nowhere.png"]),
        ("ACME-DE", {"branding": {"footer": "x" * 401}}, ["legal_entities.ACME-DE.branding.footer"]),
    ],
)
def test_a_bad_entity_entry_is_refused_naming_entity_and_field(
    tmp_path: Path, entity: str, changes: dict[str, Any], names: list[str]
) -> None:
    message = refused(config_with(tmp_path, entity, changes))
    for name in names:
        assert name in message


def test_a_logo_that_is_not_a_png_or_jpeg_is_refused(tmp_path: Path) -> None:
    (tmp_path / "logo.png").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>", encoding="utf-8")
    message = refused(config_with(tmp_path, "ACME-DE", {"branding": {"logo": "logo.png"}}))
    assert "legal_entities.ACME-DE.branding.logo" in message and "PNG or JPEG" in message
    Image.new("RGB", (8, 8)).save(tmp_path / "logo.gif", "GIF")
    message = refused(config_with(tmp_path, "ACME-DE", {"branding": {"logo": "logo.gif"}}))
    assert "legal_entities.ACME-DE.branding.logo" in message and "GIF" in message


def test_a_logo_is_found_relative_to_the_configuration_file(tmp_path: Path) -> None:
    (tmp_path / "brand").mkdir()
    Image.new("RGB", (60, 20), "#0B3D91").save(tmp_path / "brand" / "acme.jpg", "JPEG")
    path = config_with(
        tmp_path,
        "ACME-DE",
        {"branding": {"logo": "brand/acme.jpg", "primary_colour": "#0b3d91", "footer": "Managing director: J. Doe"}},
    )
    entity = load_business_config(path).entities["ACME-DE"]
    assert entity.branding.logo == str((tmp_path / "brand" / "acme.jpg").resolve())
    assert entity.branding.primary_colour == "#0B3D91"  # one spelling of a colour
    assert entity.branding.footer == "Managing director: J. Doe"


def test_the_demo_entities_have_logos_means_and_registration_numbers(tmp_path: Path) -> None:
    entities = load_business_config().entities
    de, us = entities["ACME-DE"], entities["ACME-US"]
    for entity in (de, us):
        logo = Path(entity.branding.logo)
        assert logo.is_file() and logo.is_relative_to(DEFAULTS)
        with Image.open(logo) as image:
            assert image.format == "PNG"
    assert de.iban and de.company_register and de.tax_id and de.vat_id and de.branding.footer
    assert us.ach_routing_number and us.ach_account_number and not us.iban
    # a copy of the default file elsewhere still finds the bundled logos
    copied = config_with(tmp_path, "ACME-DE", {})
    assert load_business_config(copied).entities["ACME-DE"].branding.logo == de.branding.logo
