"""Fixtures of the contract tests: Xero's books behind a loopback stand-in that checks every request
against Xero's published API description."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.contract.specs import check_xero
from tests.contract.standin import StandIn
from tests.contract.xero_standin import XeroBooks


@pytest.fixture
def xero_books() -> XeroBooks:
    books = XeroBooks()
    books.access_token = "t"  # the static token the channels present
    return books


@pytest.fixture
def xero(xero_books: XeroBooks, oracles: Path) -> Iterator[StandIn]:
    server = StandIn(xero_books, check=lambda seen: check_xero(oracles, seen)).start()
    yield server
    server.stop()
    assert not server.violations, server.violations
