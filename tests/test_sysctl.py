"""Temporary sysctl values are restored: after the block, and after the process that set them dies."""

from __future__ import annotations

import fcntl
import os

import pytest

from fixtures import mounts, sysctl
from fixtures.files import make_run_dir, remove_run_dir
from fixtures.probe import probe

NAME = "vm.dirty_expire_centisecs"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="changing a sysctl needs root")


@pytest.fixture(autouse=True)
def one_test_at_a_time(tmp_path_factory):
    """These tests change one real sysctl: never two at once, even across xdist workers."""
    shared = tmp_path_factory.getbasetemp().parent  # common to every worker of this pytest run
    with open(shared / "mmapconf-sysctl-tests.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _die_inside_override(state_dir, value):
    with sysctl.override({NAME: value}, state_dir):
        os._exit(9)


def test_override_is_restored_after_the_block(tmp_path):
    original = sysctl.read(NAME)
    changed = str(int(original) + 1)
    with sysctl.override({NAME: changed}, tmp_path) as saved:
        assert saved == {NAME: original} and sysctl.read(NAME) == changed
    assert sysctl.read(NAME) == original
    assert not tmp_path.exists()  # the records' directory goes with its last record


def test_override_left_by_a_dead_process_is_restored(tmp_path):
    original = sysctl.read(NAME)
    changed = str(int(original) + 1)
    try:
        assert probe(_die_inside_override, tmp_path, changed).exit_code == 9
        assert sysctl.read(NAME) == changed and list(tmp_path.glob(sysctl.RECORD_GLOB))
        assert sysctl.restore_stale(tmp_path) == [NAME]
        assert sysctl.read(NAME) == original
    finally:
        if sysctl.read(NAME) == changed:
            sysctl.write(NAME, original)


def test_value_changed_since_by_someone_else_is_left_alone(tmp_path):
    original = sysctl.read(NAME)
    changed, theirs = str(int(original) + 1), str(int(original) + 2)
    try:
        probe(_die_inside_override, tmp_path, changed)
        sysctl.write(NAME, theirs)
        assert sysctl.restore_stale(tmp_path) == []
        assert sysctl.read(NAME) == theirs
    finally:
        sysctl.write(NAME, original)


def test_a_value_left_by_a_killed_run_is_restored_by_a_run_in_another_directory(tmp_path):
    # the records live in one directory for the host (under /run), not in the killed run's own directory
    original = sysctl.read(NAME)
    changed = str(int(original) + 1)
    try:
        assert probe(_die_inside_override, sysctl.RECORDS, changed).exit_code == 9
        assert sysctl.read(NAME) == changed
        elsewhere = make_run_dir(tmp_path)
        remove_run_dir(elsewhere)  # any run's teardown
        assert sysctl.read(NAME) == original
    finally:
        if sysctl.read(NAME) == changed:
            sysctl.write(NAME, original)


def _scratch_ledger_torn_down_inside_override(records, parent):
    with sysctl.override({NAME: sysctl.read(NAME)}, records):
        mounts.ProvisioningLedger.create(parent).teardown()  # as a durability test's scratch mount does, in its flusher block
    return "done"


def test_a_ledger_torn_down_inside_an_override_does_not_wait_for_the_lock_its_process_holds(tmp_path):
    outcome = probe(_scratch_ledger_torn_down_inside_override, tmp_path / "records", tmp_path, timeout=20)
    assert outcome.kind == "returned" and outcome.value == "done", outcome
