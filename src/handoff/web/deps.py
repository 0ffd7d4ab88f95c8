"""Shared request parameters: the application context and validated paging."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from handoff.context import AppContext
from handoff.web.auth import context

MAX_LIMIT = 200
MAX_OFFSET = 1_000_000

Ctx = Annotated[AppContext, Depends(context)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"page size, 1 to {MAX_LIMIT}")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="items to skip")]
