"""Bulk work pauses the cycle collector and leaves what it made in the oldest generation."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from handoff.runtime import gc_pause as collector


@pytest.fixture(autouse=True)
def collector_restored() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    (gc.enable if enabled else gc.disable)()


def _in_generation(obj: object, generation: int) -> bool:
    return any(o is obj for o in gc.get_objects(generation=generation))


def test_a_bulk_operation_collects_nothing_automatically_and_restores_the_collector_after() -> None:
    gc.enable()
    with collector.for_bulk(collector.BULK):
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_small_operation_leaves_the_collector_alone() -> None:
    gc.enable()
    with collector.for_bulk(collector.BULK - 1):
        assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    with collector.paused():
        pass
    assert not gc.isenabled()


def test_nested_operations_share_one_pause() -> None:
    gc.enable()
    with collector.paused():
        with collector.paused():
            pass
        assert not gc.isenabled()  # the inner end does not resume collection under the outer
    assert gc.isenabled()


def test_what_the_operation_made_joins_the_oldest_generation_unwalked() -> None:
    gc.enable()
    with collector.paused():
        results = [[k] for k in range(100)]  # kept: the results of a bulk operation
        assert _in_generation(results, 0)
    assert _in_generation(results, 2)
    assert not _in_generation(results, 0)
    assert gc.get_freeze_count() == 0  # nothing stays frozen out of the collector's reach
