"""E-mail over SMTP (stdlib smtplib). The outbox key becomes the Message-ID, so a receiver can
drop the rare duplicate that at-least-once delivery may cause.

A payload may name `documents` to attach (an invoice e-mail: the invoice and the formats its
customer takes). They are not in the outbox: the channel asks its document source, injected by the
composition root (`invoicing.service.mailing.email_documents`), at delivery. A part with a content
id is an image of the HTML part (the seller's logo), the others are attachments. A channel without
a source never sends such an e-mail bare: it fails permanently, to the dead letters, where an
operator can replay it once the worker is built with one.
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable, Mapping, Sequence
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from handoff.kernel.delivery import DeliveryError
from handoff.kernel.escaping import header_address, header_text

# (file name, content type, bytes, content id: empty for an attachment, else an inline image of the HTML part)
Part = tuple[str, str, bytes, str]
DocumentSource = Callable[[Mapping[str, Any]], Sequence[Part]]


def _addresses(addresses: Sequence[str]) -> str:
    """A To / Cc header's value; an address with a line break fails for good (no retry mends it)."""
    try:
        return ", ".join(header_address(str(a)) for a in addresses)
    except ValueError as exc:
        raise DeliveryError(str(exc), permanent=True) from None


class SmtpChannel:
    def __init__(
        self, host: str, port: int, sender: str, timeout: float = 10.0, documents: DocumentSource | None = None
    ) -> None:
        self.host, self.port, self.sender, self.timeout = host, port, sender, timeout
        self.documents = documents

    def message(self, key: str, payload: Mapping[str, Any]) -> EmailMessage:
        """The MIME message of a payload: text, HTML (with its inline images), attachments."""
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = _addresses(payload["to"])
        if payload.get("cc"):
            msg["Cc"] = _addresses(payload["cc"])
        msg["Subject"] = header_text(str(payload["subject"]))  # a line break would start a header of its own
        msg["Date"] = formatdate(usegmt=True)
        msg["Message-ID"] = f"<{key.replace(':', '.')}@handoff>"
        msg.set_content(payload["text"])
        parts = self._parts(payload)
        if payload.get("html"):
            msg.add_alternative(payload["html"], subtype="html")
            html = msg.get_body(("html",))
            assert html is not None
            for _name, content_type, data, cid in (p for p in parts if p[3]):
                maintype, _, subtype = content_type.partition("/")
                html.add_related(data, maintype=maintype, subtype=subtype, cid=f"<{cid}>")
        for name, content_type, data, cid in parts:
            if not cid:
                maintype, _, subtype = content_type.partition("/")
                msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
        return msg

    def _parts(self, payload: Mapping[str, Any]) -> Sequence[Part]:
        spec = payload.get("documents")
        if not spec:
            return ()
        if self.documents is None:
            raise DeliveryError("this e-mail channel cannot attach documents (built without a source)", permanent=True)
        try:
            return self.documents(spec)
        except DeliveryError:
            raise
        except Exception as exc:  # the database away, a renderer failing: tried again later, then dead-lettered
            raise DeliveryError(f"the documents to attach could not be made: {exc!r}") from exc

    def deliver(self, key: str, payload: Mapping[str, Any]) -> None:
        msg = self.message(key, payload)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"all recipients refused: {exc.recipients}", permanent=True) from exc
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(
                f"SMTP {exc.smtp_code}: {exc.smtp_error!r}",
                permanent=500 <= exc.smtp_code < 600 and exc.smtp_code not in (552, 554),
            ) from exc
        except (TimeoutError, OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"SMTP server {self.host}:{self.port} unreachable: {exc}") from exc
