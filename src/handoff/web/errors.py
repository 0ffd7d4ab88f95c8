"""HTTP errors of the API: always `{"error": {"code", "message", "field"}}` with a stable code.

Codes: `unauthenticated` (401), `forbidden` and `csrf_failed` (403), `not_found` (404),
`method_not_allowed` (405), `conflict` (409), `too_large` (413), `invalid_json` (400),
`invalid_request` (422, `field` names the parameter or body field); approvals answer 409 with
`not_pending`, `same_person` or `not_creditable`."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
}


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


# Documented on every API route, so clients (and schemathesis) know the error shape.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": code} for status, code in CODES.items() if status != 415
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def error(
    status: int, code: str, message: str, field: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, "field": field}}, status_code=status, headers=headers
    )


def validation_error(exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": ""}
    if first.get("type") == "json_invalid":
        detail = first.get("ctx") or {}
        reason = detail.get("error", "") if isinstance(detail, dict) else ""
        return error(400, "invalid_json", f"body is not valid JSON: {reason}".strip())
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header", "cookie")]
    field = ".".join(loc) or None
    message = str(first.get("msg", "invalid request"))
    if first.get("type") == "extra_forbidden":
        message = "unknown field"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return error(422, "invalid_request", f"{field + ': ' if field else ''}{message}{more}", field)


async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return validation_error(exc)


async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error(exc.status, exc.code, exc.message, exc.field)


@lru_cache(maxsize=512)
def _template(path: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)))


def allowed_methods(request: Request) -> str:
    """Every method the API document lists for this path (RFC 9110 15.5.6). Starlette's own 405
    names only the first route that matched the path, while GET and PATCH of one path are two."""
    methods = {
        method.upper()
        for template, operations in request.app.openapi().get("paths", {}).items()
        if _template(template).fullmatch(request.url.path)
        for method in operations
        if method in HTTP_METHODS
    }
    return ", ".join(sorted(methods))


def http_error(exc: StarletteHTTPException, request: Request | None = None) -> JSONResponse:
    detail = exc.detail if isinstance(exc.detail, str) else jsonable_encoder(exc.detail)
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status_code == 405 and request is not None:
        headers["Allow"] = allowed_methods(request) or headers.get("Allow", "")
    return error(
        exc.status_code,
        CODES.get(exc.status_code, f"http_{exc.status_code}"),
        str(detail),
        headers=headers or None,
    )
