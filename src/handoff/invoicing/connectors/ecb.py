"""The ECB's euro reference rates over HTTP: the eurofxref XML files it publishes each TARGET
working day at about 16:00 CET (`DAILY_URL`; `HIST_90D_URL` for the last 90 days).

A GET with the shared HTTP helpers (`kernel.connectors.http`: timeouts, retries of transport
failures, 429 and 5xx); any other answer than 200 is a `DeliveryError` naming the status. The
body is returned as bytes, unread: `invoicing.formats.ecb` parses it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from handoff.kernel.connectors.http import HttpSender, failure, make_client

DAILY_URL = "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-daily.xml"
HIST_90D_URL = "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-hist-90d.xml"
TIMEOUT = httpx.Timeout(30.0, connect=5.0)


def fetch(url: str, transport: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep) -> bytes:
    """The file at `url`. Raises DeliveryError (transient, or permanent for a 4xx)."""
    with make_client("", transport, TIMEOUT) as client:
        sender = HttpSender(client, "ECB rates", sleep=sleep)
        response = sender.request("GET", url, headers={"Accept": "application/xml, text/xml"})
        if response.status_code != 200:
            raise failure("ECB rates", "GET", url, response)
        return response.content


def file_name(url: str) -> str:
    """The name a fetched file is imported under: the last part of its path."""
    return httpx.URL(url).path.rsplit("/", 1)[-1] or "ECB rates"
