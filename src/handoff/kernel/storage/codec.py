"""Domain values as the JSON columns store them: serialised once, written through unchanged."""

from __future__ import annotations

from typing import Any

import orjson

from handoff.kernel.encoding import to_json_bytes


def to_json_fragment(value: Any, sort_keys: bool = False) -> orjson.Fragment:
    """`value` serialised once for a Json column, whose serializer (orjson, see `db.make_engine`)
    writes a fragment through unchanged: a large document is not encoded, decoded and encoded again.
    With `sort_keys` the bytes are canonical, as the audit chain's hash needs them."""
    return orjson.Fragment(to_json_bytes(value, sort_keys))
