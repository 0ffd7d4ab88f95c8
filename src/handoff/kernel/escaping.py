"""Text from outside (a CRM, a user, a customer record) made safe for where it goes.

One function per destination, used by every writer to it:
- Slack mrkdwn (`slack_mrkdwn`): `&`, `<` and `>` as `&amp;`, `&lt;`, `&gt;`, Slack's documented
  rule (https://api.slack.com/reference/surfaces/formatting#escaping); otherwise `<!channel>` or
  `<http://evil|Approve>` in a deal name would mention everyone or show a link of its own.
- E-mail headers (`header_text`, `header_address`): a header value on one line. A CR or LF
  would start a header of its own (`Bcc:`), so a subject is folded onto one line and an address
  holding a control character is refused (it is no address; folding it could make another one).
HTML goes through Jinja's autoescape, XML through lxml, and the PDF canvas draws literal strings,
so they need nothing here.
"""

from __future__ import annotations

_SLACK = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def slack_mrkdwn(text: str) -> str:
    """`text` shown as it is in a Slack mrkdwn field (and a message's top-level `text`)."""
    return text.translate(_SLACK)


def header_text(text: str) -> str:
    """A header value on one line: line breaks and other control characters become spaces,
    runs of white space one space."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


def header_address(address: str) -> str:
    """An address for a To / Cc header, refused (ValueError) when it holds a line break or another
    control character."""
    if not address.isprintable():
        raise ValueError(f"e-mail address {address!r} holds a line break or control character")
    return address.strip()
