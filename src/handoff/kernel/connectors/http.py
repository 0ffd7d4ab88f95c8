"""Outbound HTTP for every connector: timeouts, bounded in-process retries, errors as data.

- Transport failures (timeout, refused or dropped connection) and 5xx answers are retried a few
  times with exponential backoff; 429 waits for `Retry-After` (seconds or an HTTP date) when that
  is short. Beyond that the failure is a transient `DeliveryError` and the outbox tries again
  later with its own backoff, or dead-letters the row after its last attempt.
- Other 4xx answers are permanent (`DeliveryError(permanent=True)`): retrying the same request
  cannot succeed; an operator fixes the cause and replays the dead letter.
- Messages name the method, path and status and at most a short excerpt of the answer; never
  headers, query strings or tokens.

Retrying a create is only safe because every create carries an idempotency key or is preceded by
a lookup (see the accounting connectors).

JSON in and out keeps numbers exact: `decode_json` reads every JSON number with a fraction or an
exponent as a `Decimal` (never a float: a CRM's `15600.0` must not become binary 15600.0 on its way
to an amount), and `json_bytes` writes Decimals as JSON numbers digit for digit.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx

from handoff.kernel.delivery import DeliveryError

logger = logging.getLogger("handoff.kernel.connectors.http")

DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3  # in-process tries per call; the outbox retries the whole delivery later
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 30.0  # a longer Retry-After is left to the outbox's schedule


def retry_after_seconds(response: httpx.Response, now: datetime | None = None) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def excerpt(response: httpx.Response, limit: int = 300) -> str:
    try:
        text = response.text
    except (UnicodeDecodeError, httpx.ResponseNotRead):
        return ""
    return " ".join(text.split())[:limit]


def decode_json(response: httpx.Response) -> Any:
    """The answer's JSON with every non-integer number as a Decimal (integers stay int); ValueError
    when it is not JSON."""
    return json.loads(response.content, parse_float=Decimal)


def json_bytes(value: Any) -> bytes:
    """`value` as compact JSON (UTF-8), Decimals written as numbers exactly as they are (`1200.00`),
    never through float; send with `content=` and a JSON content type."""
    return _encode(value).encode()


def _encode(value: Any) -> str:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a JSON number")
        return format(value, "f")
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{json.dumps(str(k), ensure_ascii=False)}:{_encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    if isinstance(value, float):
        raise TypeError("floats are not sent: pass a Decimal")
    return json.dumps(value, ensure_ascii=False)


IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class HttpSender:
    """Sends requests through one `httpx.Client` (built with a base URL, timeouts and, in tests,
    a transport) with the retry policy above."""

    def __init__(
        self,
        client: httpx.Client,
        name: str,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client, self.name, self.policy, self.sleep = client, name, policy or RetryPolicy(), sleep

    def _wait(self, attempt: int) -> float:
        delay = min(self.policy.max_delay, self.policy.base_delay * 2 ** (attempt - 1))
        return float(delay / 2 + random.uniform(0, delay / 2))

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """The response of the first attempt that is neither a transport failure, a 429 nor a 5xx;
        raises a transient DeliveryError when all attempts were.

        A request that may already have taken effect (a POST or PATCH answered by a 5xx, timed out
        or cut off after it was sent) is not repeated here: the outbox retries the whole delivery,
        which looks the document up before creating it again. Only what cannot duplicate is retried
        in place: idempotent methods, a 429 (refused, not processed) and a connection that was
        never made."""
        where = f"{self.name} {method} {httpx.URL(url).path}"
        repeatable = method.upper() in IDEMPOTENT_METHODS
        for attempt in range(1, self.policy.attempts + 1):
            last = attempt == self.policy.attempts
            retry_here = True
            try:
                response = self.client.request(method, url, **kwargs)
            except httpx.TimeoutException as exc:
                problem = f"{where}: timed out ({type(exc).__name__})"
                retry_here = repeatable or isinstance(exc, httpx.ConnectTimeout)
            except httpx.TransportError as exc:
                problem = f"{where}: connection failed ({type(exc).__name__})"
                retry_here = repeatable or isinstance(exc, httpx.ConnectError)
            else:
                status = response.status_code
                if status != 429 and status < 500:
                    return response
                problem = f"{where}: HTTP {status} {excerpt(response, 120)}".rstrip()
                if status == 429:
                    wait = retry_after_seconds(response)
                    if wait is not None and wait > self.policy.max_retry_after:
                        raise DeliveryError(f"{problem} (Retry-After {wait:.0f}s: retry later)")
                    if not last:
                        logger.warning("%s; retrying in %.1fs", problem, wait if wait is not None else 0)
                        self.sleep(wait if wait is not None else self._wait(attempt))
                        continue
                retry_here = repeatable
            if last or not retry_here:
                raise DeliveryError(problem)
            logger.warning("%s; retrying (attempt %d of %d)", problem, attempt + 1, self.policy.attempts)
            self.sleep(self._wait(attempt))
        raise AssertionError("unreachable")

    def json(self, method: str, url: str, *, ok: tuple[int, ...] = (200, 201), **kwargs: Any) -> Any:
        """Send and decode a JSON answer (numbers with a fraction as Decimal); any other status is a
        permanent DeliveryError."""
        response = self.request(method, url, **kwargs)
        if response.status_code not in ok:
            raise failure(self.name, method, url, response)
        try:
            return decode_json(response)
        except ValueError:
            raise DeliveryError(f"{self.name} {method} {httpx.URL(url).path}: answer is not JSON") from None


def failure(name: str, method: str, url: str, response: httpx.Response) -> DeliveryError:
    """A non-retryable answer as a DeliveryError (409 conflicts and 4xx are permanent)."""
    return DeliveryError(
        f"{name} {method} {httpx.URL(url).path}: HTTP {response.status_code} {excerpt(response)}".rstrip(),
        permanent=400 <= response.status_code < 500,
    )


def make_client(
    base_url: str, transport: httpx.BaseTransport | None = None, timeout: httpx.Timeout | float = DEFAULT_TIMEOUT
) -> httpx.Client:
    return httpx.Client(
        base_url=base_url,
        transport=transport,
        timeout=timeout,
        headers={"User-Agent": "handoff/0.1", "Accept": "application/json"},
    )
