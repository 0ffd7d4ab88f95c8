"""Checks of outgoing requests against the vendors' published API descriptions (the oracles).

Xero: `xero_accounting.yaml` (OpenAPI 3) through openapi-core (path, method, parameters, body
schema), plus a stricter pass of our own: every query parameter and every body property must be
declared by the spec (OpenAPI allows extra ones by default; Xero ignores misspelt fields, which is
exactly the bug this catches). Slack: `slack_web_openapi_v2.json` (Swagger 2): the method exists,
takes POST, every argument is a declared parameter of the right type, the required ones are there.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import yaml
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

from tests.contract.standin import Seen

XERO_BASE = "/api.xro/2.0"


@cache
def xero_spec(oracles: Path) -> tuple[OpenAPI, dict[str, Any]]:
    raw = yaml.load((oracles / "vendors/Xero-OpenAPI/xero_accounting.yaml").read_text(), Loader=yaml.CSafeLoader)
    # the published file has a few examples of the wrong type, so the meta-schema check is skipped
    return OpenAPI.from_dict(raw, config=Config(spec_validator_cls=None)), raw


class _Request:
    def __init__(self, seen: Seen) -> None:
        self.host_url = "https://api.xero.com"
        self.path = seen.path
        self.method = seen.method.lower()
        self.body = seen.body or None
        self.content_type = seen.headers.get("content-type", "application/json").split(";")[0]
        query = [(k, v) for k, vs in seen.query.items() for v in vs]
        self.parameters = RequestParameters(query=ImmutableMultiDict(query), header=Headers(seen.headers), cookie={})


def _resolve(node: Any, root: dict[str, Any]) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = root
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def undeclared(value: Any, schema: Any, root: dict[str, Any], where: str = "") -> list[str]:
    schema = _resolve(schema, root)
    if not isinstance(schema, dict):
        return []
    if isinstance(value, dict):
        props: dict[str, Any] = {}
        for part in [schema, *(_resolve(s, root) for s in schema.get("allOf", []))]:
            props.update(part.get("properties", {}))
        if not props:
            return []
        out = []
        for key, item in value.items():
            if key not in props:
                out.append(f"{where}.{key}" if where else key)
            else:
                out += undeclared(item, props[key], root, f"{where}.{key}" if where else key)
        return out
    if isinstance(value, list) and "items" in schema:
        return [p for i, item in enumerate(value) for p in undeclared(item, schema["items"], root, f"{where}[{i}]")]
    return []


def check_xero(oracles: Path, seen: Seen) -> str | None:
    if not seen.path.startswith(XERO_BASE):
        return None  # the identity (token) endpoint is checked by its own handler
    api, raw = xero_spec(oracles)
    try:
        api.validate_request(_Request(seen))
    except Exception as exc:  # openapi-core raises several types; all mean "not allowed"
        cause = f" ({exc.__cause__})" if exc.__cause__ else ""
        return f"{type(exc).__name__}: {exc}{cause}"[:600]
    item = raw["paths"].get(seen.path.removeprefix(XERO_BASE))
    if item is None:
        return None  # templated path: openapi-core matched it already
    op = item[seen.method.lower()]
    declared = {
        _resolve(p, raw)["name"]
        for p in [*item.get("parameters", []), *op.get("parameters", [])]
        if _resolve(p, raw)["in"] == "query"
    }
    extra = sorted(set(seen.query) - declared)
    if extra:
        return f"query parameters not in the spec: {extra}"
    if seen.body and "requestBody" in op:
        schema = _resolve(op["requestBody"], raw)["content"]["application/json"]["schema"]
        bad = undeclared(json.loads(seen.body), schema, raw)
        if bad:
            return f"body properties not in the spec: {bad}"
    return None


@cache
def slack_spec(oracles: Path) -> dict[str, Any]:
    return dict(json.loads((oracles / "vendors/slack-api-specs/web-api/slack_web_openapi_v2.json").read_text()))


BLOCK_TYPES = {"section", "header", "context", "actions", "divider", "image", "input", "rich_text", "file"}


def check_slack(oracles: Path, seen: Seen) -> str | None:
    spec = slack_spec(oracles)
    method = seen.path.removeprefix("/api")
    item = spec["paths"].get(method)
    if item is None:
        return f"no Web API method {method}"
    op = item.get(seen.method.lower())
    if op is None:
        return f"{method} does not take {seen.method}"
    params = {p["name"]: p for p in op.get("parameters", [])}
    ctype = seen.headers.get("content-type", "").split(";")[0]
    if ctype not in op.get("consumes", ["application/x-www-form-urlencoded"]):
        return f"content type {ctype} not accepted"
    args: dict[str, Any] = (
        json.loads(seen.body)
        if ctype == "application/json"
        else {k: v[0] for k, v in parse_qs(seen.body.decode()).items()}
    )
    for name, value in args.items():
        p = params.get(name)
        if p is None or p["in"] not in ("formData", "query"):
            return f"argument {name!r} is not a parameter of {method}"
        kind = p.get("type")
        if kind == "boolean" and not isinstance(value, bool | str):
            return f"{name} must be a boolean"
        # JSON-encoded arrays (blocks, attachments) are declared as strings "presented as
        # URL-encoded"; in a JSON body they travel as the array itself.
        if (
            kind == "string"
            and not isinstance(value, str)
            and not (name in ("blocks", "attachments") and isinstance(value, list))
        ):
            return f"{name} must be a string"
    for name, p in params.items():
        if p.get("required") and p["in"] != "header" and name not in args:
            return f"required argument {name!r} missing"
    if (
        "token" in params
        and params["token"]["in"] == "header"
        and not seen.headers.get("authorization", "").startswith("Bearer ")
    ):
        return "no token (Authorization: Bearer)"
    blocks = args.get("blocks")
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    for i, block in enumerate(blocks or []):
        if block.get("type") not in BLOCK_TYPES:
            return f"blocks[{i}]: unknown block type {block.get('type')!r}"
        if block["type"] == "header" and (block["text"]["type"] != "plain_text" or len(block["text"]["text"]) > 150):
            return f"blocks[{i}]: a header is plain_text of at most 150 characters"
        if block["type"] == "section" and len(block.get("text", {}).get("text", "")) > 3000:
            return f"blocks[{i}]: section text over 3000 characters"
    return None
