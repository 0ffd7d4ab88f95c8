"""E-mail header injection: a subject or address carrying CR / LF (from a deal id, a customer
name, a CRM owner) never adds a header of its own. A subject is folded onto one line and sent; an
address with a line break is no address: the notice fails for good, to the dead letters, naming it,
instead of breaking the worker's pass again and again."""

from __future__ import annotations

from email import message_from_bytes, policy

import pytest

from handoff.kernel.delivery import DeliveryError
from handoff.kernel.escaping import header_address, header_text
from handoff.notifications.channels.email import SmtpChannel

CHANNEL = SmtpChannel("127.0.0.1", 25, "handoff@acme.example")


def test_a_subject_with_line_breaks_is_sent_on_one_line_without_extra_headers() -> None:
    payload = {
        "to": ["anna@acme.example"],
        "subject": "[handoff] Deal D-1\r\nBcc: mallory@evil.example\r\n\r\nforged body cannot be invoiced yet",
        "text": "body",
    }
    sent = message_from_bytes(CHANNEL.message("email:exception:D-1:x", payload).as_bytes(), policy=policy.default)
    assert sent["Subject"] == "[handoff] Deal D-1 Bcc: mallory@evil.example forged body cannot be invoiced yet"
    assert sent["Bcc"] is None and sent.get_all("To") == ["anna@acme.example"]
    assert sent.get_content().strip() == "body"


@pytest.mark.parametrize("field", ["to", "cc"])
def test_an_address_with_a_line_break_fails_permanently_naming_it(field: str) -> None:
    payload = {"to": ["anna@acme.example"], "subject": "s", "text": "t"}
    payload[field] = ["anna@acme.example\r\nBcc: mallory@evil.example"]
    with pytest.raises(DeliveryError) as err:
        CHANNEL.message("email:task:D-1:x", payload)
    assert err.value.permanent and "line break" in str(err.value) and "mallory" in str(err.value)


def test_header_helpers() -> None:
    assert header_text("Invoice 1\n from\tACME  GmbH\x00") == "Invoice 1 from ACME GmbH"
    assert header_address(" anna@acme.example ") == "anna@acme.example"
    with pytest.raises(ValueError):
        header_address("anna@acme.example\nBcc: x@y")
