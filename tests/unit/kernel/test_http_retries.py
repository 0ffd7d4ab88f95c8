"""In-process retries never risk a second create: a POST whose outcome is unknown goes back to the
outbox (which looks up before creating); only what cannot duplicate is retried in place."""

from __future__ import annotations

import httpx
import pytest

from handoff.kernel.connectors.http import HttpSender, RetryPolicy
from handoff.kernel.delivery import DeliveryError


def sender(answers: list[int | Exception]) -> tuple[HttpSender, list[str]]:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return httpx.Response(answer, headers={"Retry-After": "0"} if answer == 429 else {})

    client = httpx.Client(base_url="http://books.invalid", transport=httpx.MockTransport(handler))
    return HttpSender(client, "books", RetryPolicy(attempts=3), sleep=lambda _: None), seen


@pytest.mark.parametrize("failure", [500, 502, httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("cut off")])
def test_post_with_unknown_outcome_is_not_repeated_here(failure: int | Exception) -> None:
    http, seen = sender([failure, 201])
    with pytest.raises(DeliveryError):
        http.request("POST", "/invoices", json={})
    assert seen == ["POST"]


@pytest.mark.parametrize("first", [429, httpx.ConnectError("refused")])
def test_post_that_was_not_processed_is_retried_here(first: int | Exception) -> None:
    http, seen = sender([first, 201])
    assert http.request("POST", "/invoices", json={}).status_code == 201
    assert seen == ["POST", "POST"]


def test_get_is_retried_on_server_errors() -> None:
    http, seen = sender([503, httpx.ReadTimeout("slow"), 200])
    assert http.request("GET", "/invoices/INV-1").status_code == 200
    assert seen == ["GET", "GET", "GET"]
