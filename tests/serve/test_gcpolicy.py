"""The garbage-collector policy of long-running processes (hexlake.gcpolicy): survivors are frozen so a
full collection scans only newer objects, frozen cycles are still reclaimed by the periodic full pass,
and every pause is measured for /metrics."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY

from hexlake.gcpolicy import THRESHOLDS, GcService, install, settle


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


@pytest.fixture(autouse=True)
def thawed() -> Iterator[None]:
    yield
    gc.unfreeze()  # the test process goes on with a normal collector


def test_survivors_are_frozen_and_a_full_pass_reclaims_frozen_cycles() -> None:
    node = Node()
    ref = weakref.ref(node)
    settle()
    assert gc.get_freeze_count() > 0
    del node
    gc.collect()
    assert ref() is not None, "a frozen cycle is left alone by ordinary collections (that is the point)"
    settle(full=True)
    assert ref() is None, "the periodic full pass thaws and reclaims it"


def test_garbage_is_collected_before_freezing() -> None:
    node = Node()
    ref = weakref.ref(node)
    del node
    settle()
    assert ref() is None, "a cycle that is already garbage is freed, not frozen"


def test_the_service_runs_the_full_pass_when_due() -> None:
    service = GcService(every_s=30.0, full_every_s=0.0)
    node = Node()
    ref = weakref.ref(node)
    settle()
    del node
    assert service.step() is False
    assert ref() is None


def test_install_sets_the_thresholds_and_measures_pauses_per_generation() -> None:
    before_thresholds = gc.get_threshold()
    install()
    install()  # once per process, however often it is called
    assert gc.get_threshold() == THRESHOLDS
    before = REGISTRY.get_sample_value("hexlake_gc_pause_seconds_count", {"generation": "2"}) or 0.0
    gc.collect()
    after = REGISTRY.get_sample_value("hexlake_gc_pause_seconds_count", {"generation": "2"})
    gc.set_threshold(*before_thresholds)
    assert after == before + 1
