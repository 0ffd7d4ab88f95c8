"""Shared request parameters: the application context, validated paging, text filters and the
path parameters that more than one capability's routes take (a deal id, an invoice id)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query

from handoff.context import AppContext
from handoff.web.auth import context
from handoff.web.schemas import LINE

MAX_LIMIT = 200
MAX_OFFSET = 1_000_000

Ctx = Annotated[AppContext, Depends(context)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"page size, 1 to {MAX_LIMIT}")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="items to skip")]
Filter = Annotated[str | None, Query(max_length=200, pattern=LINE)]
DealId = Annotated[str, Path(max_length=200, pattern=LINE)]
InvoiceId = Annotated[int, Path(ge=1, le=2**31 - 1)]
