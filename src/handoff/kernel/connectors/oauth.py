"""OAuth 2.0 access tokens for outbound APIs (RFC 6749): refresh-token grant (Xero, QuickBooks)
and client-credentials grant (Salesforce and others).

Xero and Intuit rotate the refresh token on every refresh and the old one stops working soon
after, so the new pair is saved (through `TokenState`, the database in production) before it is
used. When a refresh is refused with `invalid_grant`, another worker may have rotated the token
first: the saved state is read again and the refresh retried once with what it holds.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from handoff.kernel.connectors.http import HttpSender, excerpt
from handoff.kernel.connectors.secrets import Secret
from handoff.kernel.delivery import DeliveryError

logger = logging.getLogger("handoff.kernel.connectors.oauth")
EARLY = timedelta(seconds=60)  # refresh a token this long before it expires


class TokenState(Protocol):
    """Durable storage for one connector's token set (access, refresh, expiry)."""

    def load(self, name: str) -> dict[str, Any] | None: ...

    def save(self, name: str, value: dict[str, Any]) -> None: ...


class MemoryTokenState:
    def __init__(self) -> None:
        self.values: dict[str, dict[str, Any]] = {}

    def load(self, name: str) -> dict[str, Any] | None:
        return self.values.get(name)

    def save(self, name: str, value: dict[str, Any]) -> None:
        self.values[name] = dict(value)


class OAuth2:
    """Hands out a valid access token, refreshing when it is (nearly) expired or was refused."""

    def __init__(
        self,
        name: str,
        http: HttpSender,
        token_url: str,
        client_id: str,
        client_secret: Secret,
        state: TokenState,
        *,
        refresh_token: Secret | None = None,
        scope: str = "",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.name, self.http, self.token_url, self.client_id = name, http, token_url, client_id
        self._client_secret, self._initial_refresh, self.scope = client_secret, refresh_token, scope
        self.state, self.clock = state, clock
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OAuth2({self.name!r}, client_id={self.client_id!r})"

    def access_token(self) -> str:
        with self._lock:
            saved = self.state.load(self.name) or {}
            expires = saved.get("expires_at")
            if saved.get("access_token") and expires and datetime.fromisoformat(expires) - EARLY > self.clock():
                return str(saved["access_token"])
            return self._refresh(saved)

    def invalidate(self) -> None:
        """Forget the access token (the API refused it); the next call refreshes."""
        with self._lock:
            saved = self.state.load(self.name) or {}
            saved.pop("access_token", None)
            self.state.save(self.name, saved)

    def _refresh(self, saved: dict[str, Any], again: bool = True) -> str:
        refresh = saved.get("refresh_token") or (self._initial_refresh.reveal() if self._initial_refresh else "")
        form = (
            {"grant_type": "refresh_token", "refresh_token": refresh}
            if refresh
            else {"grant_type": "client_credentials"}
        )
        if self.scope and not refresh:
            form["scope"] = self.scope
        response = self.http.request(
            "POST", self.token_url, data=form, auth=(self.client_id, self._client_secret.reveal())
        )
        if response.status_code != 200:
            body = excerpt(response, 200)
            if again and refresh and "invalid_grant" in body:
                logger.warning("%s: refresh token refused; reloading the saved token set once", self.name)
                return self._refresh(self.state.load(self.name) or {}, again=False)
            raise DeliveryError(
                f"{self.name}: token refresh failed: HTTP {response.status_code} "
                f"{body.split(':')[0] if body else ''}".rstrip(),
                permanent=True,
            )
        data = response.json()
        token = str(data["access_token"])
        value = {
            "access_token": token,
            "refresh_token": data.get("refresh_token") or refresh,
            "expires_at": (self.clock() + timedelta(seconds=int(data.get("expires_in", 1800)))).isoformat(),
        }
        self.state.save(self.name, value)
        return token


class StaticToken:
    """A long-lived token (HubSpot private app, Slack bot, Pipedrive API token)."""

    def __init__(self, token: Secret) -> None:
        self._token = token

    def __repr__(self) -> str:
        return "StaticToken(********)"

    def access_token(self) -> str:
        return self._token.reveal()

    def invalidate(self) -> None:
        pass


class TokenSource(Protocol):
    def access_token(self) -> str: ...

    def invalidate(self) -> None: ...
