"""E-mail over SMTP (stdlib smtplib). The outbox key becomes the Message-ID, so a receiver can
drop the rare duplicate that at-least-once delivery may cause."""

from __future__ import annotations

import smtplib
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from handoff.kernel.delivery import DeliveryError


class SmtpChannel:
    def __init__(self, host: str, port: int, sender: str, timeout: float = 10.0) -> None:
        self.host, self.port, self.sender, self.timeout = host, port, sender, timeout

    def deliver(self, key: str, payload: Mapping[str, Any]) -> None:
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = ", ".join(payload["to"])
        if payload.get("cc"):
            msg["Cc"] = ", ".join(payload["cc"])
        msg["Subject"] = payload["subject"]
        msg["Date"] = formatdate(usegmt=True)
        msg["Message-ID"] = f"<{key.replace(':', '.')}@handoff>"
        msg.set_content(payload["text"])
        if payload.get("html"):
            msg.add_alternative(payload["html"], subtype="html")
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
