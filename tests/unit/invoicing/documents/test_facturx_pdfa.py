"""Factur-X is a real PDF/A-3b: PDF 1.7 header, every font embedded (DejaVu shipped with handoff),
an sRGB output intent carrying the shipped ICC profile, XMP metadata declaring PDF/A-3B and the
Factur-X EN 16931 level, a file identifier, and the CII attached as `factur-x.xml` (checked with
the `factur-x` package, structure with pikepdf)."""

from __future__ import annotations

import io

import pikepdf
import pytest
from facturx import get_facturx_xml_from_pdf, get_level
from lxml import etree

from handoff.invoicing.documents import render
from handoff.invoicing.documents.facturx import ICC_PROFILE
from handoff.invoicing.documents.pdf import FONT_DIR
from handoff.invoicing.documents.validation import SAFE_PARSER, validate
from tests.corpus import build_corpus

CORPUS = build_corpus()
NAMES = ["domestic_standard", "reverse_charge_services", "credit_note_full"]


@pytest.fixture(scope="module", params=NAMES)
def document(request: pytest.FixtureRequest) -> bytes:
    return render(CORPUS[request.param], "facturx")


def test_header_identifier_and_no_encryption(document: bytes) -> None:
    assert document.startswith(b"%PDF-1.7\n")
    with pikepdf.open(io.BytesIO(document)) as pdf:
        assert pdf.pdf_version == "1.7"
        assert not pdf.is_encrypted
        ids = pdf.trailer.ID
        assert len(ids) == 2 and len(bytes(ids[0])) == 16


def test_srgb_output_intent_with_the_shipped_icc_profile(document: bytes) -> None:
    with pikepdf.open(io.BytesIO(document)) as pdf:
        (intent,) = pdf.Root.OutputIntents
        assert intent.S == "/GTS_PDFA1" and intent.Type == "/OutputIntent"
        profile = intent.DestOutputProfile
        assert int(profile.N) == 3
        assert profile.read_bytes() == ICC_PROFILE.read_bytes()
        assert profile.read_bytes()[36:40] == b"acsp"  # an ICC profile's signature


def test_every_font_is_embedded(document: bytes) -> None:
    with pikepdf.open(io.BytesIO(document)) as pdf:
        seen = 0
        for page in pdf.pages:
            for _, font in page.Resources.Font.items():
                descendants = font.get("/DescendantFonts")
                target = descendants[0] if descendants is not None else font
                descriptor = target.get("/FontDescriptor")
                assert descriptor is not None, font.get("/BaseFont")
                assert any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3")), font.get("/BaseFont")
                seen += 1
        assert seen >= 2
    assert (FONT_DIR / "DejaVuSans.ttf").is_file() and (FONT_DIR / "LICENSE-DejaVu.txt").is_file()


def test_xmp_declares_pdfa3b_and_the_facturx_level(document: bytes) -> None:
    with pikepdf.open(io.BytesIO(document)) as pdf:
        meta = pdf.open_metadata()
        assert meta.get("pdfaid:part") == "3" and meta.get("pdfaid:conformance") == "B"
        xmp = bytes(pdf.Root.Metadata.read_bytes())
        assert b"EN 16931" in xmp and b"factur-x.xml" in xmp
        assert pdf.docinfo.get("/Title") is not None


def test_the_cii_is_attached_as_factur_x_xml_and_validates(document: bytes) -> None:
    with pikepdf.open(io.BytesIO(document)) as pdf:
        assert list(pdf.attachments) == ["factur-x.xml"]
        (af,) = pdf.Root.AF
        assert af.AFRelationship in ("/Data", "/Alternative")
    filename, xml = get_facturx_xml_from_pdf(document, check_xsd=True)
    assert filename == "factur-x.xml"
    assert get_level(etree.fromstring(xml, SAFE_PARSER)) == "en16931"
    assert validate(xml) == []
