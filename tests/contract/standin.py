"""Vendor stand-ins: real HTTP servers on loopback (stdlib ThreadingHTTPServer) that answer like
the vendor, check each request against the vendor's published description, record it, and can be
told to fail: answer 500, 429 with Retry-After, hang past the client's timeout, or drop the
connection, before or after doing the work (the case where a naive retry duplicates)."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


Reply = tuple[int, dict[str, str], Any]
FAULTS = ("500", "429", "close", "close_after", "timeout_after")


@dataclass
class StandIn:
    handle: Callable[[Seen], Reply]
    check: Callable[[Seen], str | None] = lambda seen: None  # a spec violation, or None
    hang: float = 1.5  # seconds a "timeout" fault stalls (longer than the tests' client timeout)
    seen: list[Seen] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    faults: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path suffix, fault)
    port: int = 0

    def fail(self, method: str, path_suffix: str, *faults: str) -> None:
        """The next requests matching method and path end get these faults, one each, in order."""
        assert all(f in FAULTS for f in faults)
        self.faults += [(method, path_suffix, f) for f in faults]

    def _fault(self, seen: Seen) -> str | None:
        for i, (method, suffix, fault) in enumerate(self.faults):
            if method == seen.method and seen.path.endswith(suffix):
                del self.faults[i]
                return fault
        return None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> StandIn:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                seen = Seen(
                    self.command,
                    parts.path,
                    parse_qs(parts.query, keep_blank_values=True),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                outer.seen.append(seen)
                problem = outer.check(seen)
                if problem:
                    outer.violations.append(f"{seen.method} {seen.path}: {problem}")
                    return self._reply(400, {}, {"error": "request does not match the vendor's API", "detail": problem})
                fault = outer._fault(seen)
                if fault == "close":
                    self.close_connection = True
                    return None
                if fault in ("500", "429"):
                    headers = {"Retry-After": "1"} if fault == "429" else {}
                    return self._reply(int(fault), headers, {"error": f"stand-in fault {fault}"})
                status, headers, reply = outer.handle(seen)
                if fault == "close_after":
                    self.close_connection = True
                    return None
                if fault == "timeout_after":
                    time.sleep(outer.hang)
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self._reply(status, headers, reply)
                return None

            def _reply(self, status: int, headers: dict[str, str], reply: Any) -> None:
                data = reply if isinstance(reply, bytes) else json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
