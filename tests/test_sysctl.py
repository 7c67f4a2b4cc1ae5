"""Temporary sysctl values are restored: after the block, and after the process that set them dies."""

from __future__ import annotations

import fcntl
import os
import socket

import pytest

from fixtures import mounts, sysctl
from fixtures.run_dirs import make_run_dir, remove_run_dir
from fixtures.probe import Child, probe

NAME = "vm.dirty_expire_centisecs"
NOBODY = 65534
OLD_LOCK_NAME = "\0mmapconf-sysctl"  # the abstract socket name the host lock once was: anyone could bind it

_kept = []  # what a Child keeps between calls

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


def _become_nobody():
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)
    return os.geteuid()


def _bind_the_old_lock_name():
    holder = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    holder.bind(OLD_LOCK_NAME)
    _kept.append(holder)


def _take_the_host_lock(directory):
    with sysctl._host_lock(directory):
        return "taken"


def _hold_the_host_lock(directory):
    held = sysctl._host_lock(directory)
    held.__enter__()
    _kept.append(held)


def test_another_user_can_neither_take_nor_block_the_host_lock():
    with Child(timeout=20) as other_user:
        assert other_user.call(_become_nobody).value == NOBODY
        assert other_user.call(sysctl.restore_stale).value == []  # a user who cannot change sysctls leaves them be
        with sysctl._host_lock():  # so the lock's directory exists while the other user tries
            refused = other_user.call(_take_the_host_lock, sysctl.RECORDS)
        assert refused.kind == "raised" and refused.error.startswith("PermissionError"), refused.describe()
        assert other_user.call(_bind_the_old_lock_name).ok
        taken = probe(_take_the_host_lock, sysctl.RECORDS, timeout=20)
        assert taken.value == "taken", taken.describe()


def test_the_lock_is_released_when_its_holder_dies_and_its_file_cleared_by_the_next(tmp_path):
    directory = tmp_path / "locks"
    holder = Child(timeout=20)
    with holder:
        assert holder.call(_hold_the_host_lock, directory).ok
        fd = os.open(directory / sysctl.LOCK, os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
    assert holder.ended.ended_by_exit and (directory / sysctl.LOCK).is_file()  # left without releasing it
    assert probe(_take_the_host_lock, directory, timeout=20).value == "taken"
    assert not directory.exists()


def test_the_lock_directory_stays_while_a_record_is_in_it(tmp_path):
    directory = tmp_path / "locks"
    record = directory / "sysctl-1.json"
    with sysctl._host_lock(directory):
        record.write_text("{}")
    assert sorted(directory.iterdir()) == [directory / sysctl.LOCK, record]


def test_a_symlink_planted_at_the_lock_path_is_refused_not_followed(tmp_path):
    directory = tmp_path / "locks"
    directory.mkdir(mode=0o700)
    target = tmp_path / "target"
    (directory / sysctl.LOCK).symlink_to(target)
    with pytest.raises(PermissionError, match="is a symlink: not followed"):
        with sysctl._host_lock(directory):
            pass
    assert not target.exists()


def test_a_symlink_planted_at_the_lock_directory_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (tmp_path / "locks").symlink_to(elsewhere)
    with pytest.raises(PermissionError, match="is not a directory"):
        with sysctl._host_lock(tmp_path / "locks"):
            pass
    assert list(elsewhere.iterdir()) == []


def test_a_lock_directory_other_users_may_enter_is_refused(tmp_path):
    directory = tmp_path / "locks"
    directory.mkdir()
    directory.chmod(0o755)
    with pytest.raises(PermissionError, match="is not a 0700 directory"):
        with sysctl._host_lock(directory):
            pass
    assert list(directory.iterdir()) == []
