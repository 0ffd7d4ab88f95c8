"""Security headers on every response: what the browser may load and run for a page, that no
other site may frame it (clickjacking), and that no page address leaks to another site.

The UI has no JavaScript and one stylesheet from `/static`, so its policy allows styles and images
from this origin and nothing else (no script at all, no inline style). Two kinds of response get
their own policy: the charts (matplotlib SVG, which styles itself inline and is shown through
`<img>`), and the OpenAPI docs page (Swagger UI, whose script and styles FastAPI loads from a CDN).
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGES = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SVG = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
DOCS = (
    "default-src 'none'; script-src 'self' https://cdn.jsdelivr.net 'unsafe-inline'; "
    "style-src 'self' https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)
FIXED = {
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


class SecurityHeaders:
    """ASGI middleware adding the headers above unless the response set them itself. `docs_paths`:
    the Swagger UI pages."""

    def __init__(self, app: ASGIApp, docs_paths: tuple[str, ...] = ()) -> None:
        self.app, self.docs_paths = app, docs_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = scope["path"] in self.docs_paths

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "content-security-policy" not in headers:
                    svg = headers.get("content-type", "").startswith("image/svg+xml")
                    headers["Content-Security-Policy"] = DOCS if docs else SVG if svg else PAGES
                for name, value in FIXED.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, with_headers)
