"""Another local user against a run in a world-writable target (/tmp, /dev/shm): what they plant there (a directory
or symlink named like a run directory, a forged owner record, a provisioning record) is never removed, followed or
acted on, and they cannot get into, rename or replace a run directory. The planting is done by user nobody (a forked
child that drops root), so these run as root only."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from fixtures import mounts, run_dirs
from fixtures.run_dirs import OWNER_PREFIX, RUN_PREFIX, TargetError, make_run_dir, remove_run_dir, remove_stale_run_dirs
from fixtures.owners import owner_record

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="planting files as another user needs root")

NOBODY = pwd.getpwnam("nobody") if os.geteuid() == 0 else None


def as_nobody(action, *args):
    """What ``action(*args)`` returns (JSON-able), run in a forked child as user nobody."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(NOBODY.pw_gid)
            os.setuid(NOBODY.pw_uid)
            result = {"value": action(*args)}
        except BaseException as error:
            result = {"error": repr(error)}
        os.write(write, json.dumps(result).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        result = json.loads(pipe.read())
    os.waitpid(pid, 0)
    assert "error" not in result, result["error"]
    return result["value"]


def dead_owner() -> str:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return f"{child.pid} 12345"


@pytest.fixture
def shared():
    """A directory like /tmp: every user may create files in it, the sticky bit keeps each user's own."""
    directory = Path(tempfile.mkdtemp(prefix="mmapconf-shared-", dir="/tmp"))
    directory.chmod(0o1777)
    yield directory
    shutil.rmtree(directory)


def plant_abandoned_run_dir(path: str, owner: str) -> None:
    os.mkdir(path, 0o700)
    Path(path, OWNER_PREFIX + owner.replace(" ", "-")).touch()
    Path(path, "keep").write_text("another user's")


def test_another_users_run_dir_with_a_dead_owner_is_left_alone(shared):
    planted = shared / f"{RUN_PREFIX}planted"
    as_nobody(plant_abandoned_run_dir, str(planted), dead_owner())
    assert remove_stale_run_dirs(shared) == []
    run_dir = make_run_dir(shared)
    remove_run_dir(run_dir)
    assert (planted / "keep").exists() and not run_dir.exists()


def test_a_symlink_named_like_a_run_dir_is_not_followed(shared, tmp_path):
    victim = tmp_path / "victim"  # what an abandoned run directory of this user's looks like
    victim.mkdir(mode=0o700)
    (victim / (OWNER_PREFIX + dead_owner().replace(" ", "-"))).touch()
    (victim / "keep").write_text("root's")
    as_nobody(os.symlink, str(victim), str(shared / f"{RUN_PREFIX}link"))
    assert remove_stale_run_dirs(shared) == []
    remove_run_dir(shared / f"{RUN_PREFIX}link")
    assert (victim / "keep").exists()


def attempts_on(run_dir: str) -> dict[str, str]:
    """How each way into or around a run directory ends for this user."""
    attempts = {
        "forge an owner record": lambda: Path(run_dir, f"{OWNER_PREFIX}1-1").touch(),
        "plant a symlink": lambda: os.symlink("/etc/passwd", os.path.join(run_dir, "f-planted")),
        "list it": lambda: os.listdir(run_dir),
        "rename it": lambda: os.rename(run_dir, run_dir + "-moved"),
        "remove it": lambda: os.rmdir(run_dir),
    }
    ended = {}
    for name, attempt in attempts.items():
        try:
            attempt()
            ended[name] = "done"
        except OSError as error:
            ended[name] = type(error).__name__
    return ended


def test_another_user_cannot_get_into_rename_or_replace_a_run_dir(shared):
    run_dir = make_run_dir(shared)
    try:
        ended = as_nobody(attempts_on, str(run_dir))
        assert "done" not in ended.values(), ended
        assert run_dirs.run_dir_owner(run_dir) == owner_record()
    finally:
        remove_run_dir(run_dir)
    assert not run_dir.exists()


def test_a_target_everyone_may_write_without_the_sticky_bit_is_refused(shared):
    shared.chmod(0o777)
    with pytest.raises(TargetError, match="writable by every user but not sticky"):
        make_run_dir(shared)
    assert not list(shared.iterdir())


@pytest.fixture
def nobodys_target(shared):
    """A target directory another user owns (not writable by everyone): its owner can rename what is in it."""
    target = shared / "nobodys"
    as_nobody(os.mkdir, str(target), 0o755)
    return target


def swap_for_own_directory(path: str) -> None:
    os.rename(path, path + "-moved")
    os.mkdir(path, 0o700)
    Path(path, "keep").write_text("another user's")


def swap_for_symlink(path: str, target: str) -> None:
    os.rename(path, path + "-moved")
    os.symlink(target, path)


def test_a_stale_run_dir_swapped_after_its_check_is_removed_not_what_replaced_it(nobodys_target, monkeypatch):
    stale = nobodys_target / f"{RUN_PREFIX}killed"
    stale.mkdir(mode=0o700)
    (stale / (OWNER_PREFIX + dead_owner().replace(" ", "-"))).touch()
    (stale / "scratch").write_text("left by the killed run")

    def swapped_while_owner_is_checked(owner: str) -> bool:
        as_nobody(swap_for_own_directory, str(stale))
        return False  # the owner is gone
    monkeypatch.setattr(run_dirs, "owner_alive", swapped_while_owner_is_checked)
    remove_stale_run_dirs(nobodys_target)
    assert (stale / "keep").exists()
    assert list(Path(f"{stale}-moved").iterdir()) == []  # emptied: it was the one checked


@pytest.mark.parametrize("replacement", ["symlink", "directory"])
def test_a_run_dir_replaced_during_the_run_is_left_alone_at_its_end(nobodys_target, tmp_path, replacement):
    run_dir = make_run_dir(nobodys_target)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / (OWNER_PREFIX + owner_record().replace(" ", "-"))).touch()  # even holding this run's owner record
    (victim / "keep").write_text("root's")
    if replacement == "symlink":
        as_nobody(swap_for_symlink, str(run_dir), str(victim))
    else:
        as_nobody(swap_for_own_directory, str(run_dir))
    remove_run_dir(run_dir)
    assert (victim / "keep").exists() and (run_dir / "keep").exists()
    shutil.rmtree(f"{run_dir}-moved")


@pytest.fixture
def victim_process():
    process = subprocess.Popen(["sleep", "60"], start_new_session=True)
    yield process
    process.kill()
    process.wait()


def plant_provisioning_record(root: str, record: dict) -> None:
    os.mkdir(root, 0o700)
    Path(root, mounts.RECORD).write_text(json.dumps(record))


def test_a_planted_provisioning_record_stops_nothing(shared, tmp_path, victim_process):
    """A provisioning record (fixtures/mounts.py) whose owner is gone names what the next run undoes: mounts, loop
    devices, sysctl values, helper processes. Planted by another user, or reached through their symlink, it is
    ignored: here it names a process to stop."""
    record = {"owner": dead_owner(), "entries": [{"kind": "process", "owner": owner_record(victim_process.pid),
                                                  "what": "a process the planter wants stopped"}]}
    as_nobody(plant_provisioning_record, str(shared / f"{mounts.PREFIX}planted"), record)
    roots = tmp_path / "roots"  # root's own directory, with a record that looks abandoned, reached by a symlink
    roots.mkdir()
    plant_provisioning_record(str(roots / "own"), record)
    as_nobody(os.symlink, str(roots / "own"), str(shared / f"{mounts.PREFIX}link"))
    assert mounts.clean_stale(shared) == []
    assert victim_process.poll() is None
    assert (shared / f"{mounts.PREFIX}planted" / mounts.RECORD).exists() and (roots / "own" / mounts.RECORD).exists()
