"""Provisioned filesystems: made once, torn down always (also after SIGKILL), and nothing else is touched."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures import libc, mounts, provision
from fixtures.run_dirs import make_run_dir, remove_run_dir
from fixtures.platform import fs_identity, mount_of
from harness.requirements import lacking

ROOT = Path(__file__).resolve().parents[1]
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="provisioning filesystems needs root")


def mounts_under(path: Path) -> list[str]:
    return [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
            if line.split()[4].startswith(str(path))]


def loops_backed_by(path: Path) -> list[str]:
    found = []
    for backing in Path("/sys/block").glob("loop*/loop/backing_file"):
        if backing.read_text().strip().startswith(str(path)):
            found.append(backing.parts[3])
    return found


def test_list_names_every_filesystem_with_its_availability():
    done = subprocess.run([sys.executable, "-m", "pytest", "-c", "tox.ini", "suite", "--fs", "list"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0
    for name in list(provision.FILESYSTEMS) + list(provision.NOT_HERE):
        assert any(line.split()[:1] == [name] for line in done.stdout.splitlines()), name


def test_unknown_filesystem_is_one_clear_line():
    done = subprocess.run([sys.executable, "-m", "pytest", "-c", "tox.ini", "suite", "--fs", "ext4,nope"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 4 and "Traceback" not in done.stderr
    assert done.stderr.strip() == "ERROR: unknown filesystem nope (see --fs list)"


@needs_root
def test_every_available_filesystem_is_made_and_torn_down(tmp_path):
    available = [name for name, reason in provision.availability().items() if reason is None and name in provision.FILESYSTEMS]
    hugepages = Path("/proc/sys/vm/nr_hugepages").read_text()
    ledger, made = provision.provision(available, tmp_path)
    try:
        for item in made:
            assert item.directory is not None, f"{item.name}: {item.reason}"
            assert mount_of(str(item.directory)).mount_point == str(item.directory)
    finally:
        assert ledger.teardown() == []
    assert mounts_under(tmp_path) == [] and loops_backed_by(tmp_path) == []
    assert Path("/proc/sys/vm/nr_hugepages").read_text() == hugepages
    assert not list(tmp_path.iterdir())


@needs_root
@pytest.mark.skipif(provision.availability().get("hugetlbfs") is not None, reason="no hugetlbfs here")
def test_measuring_what_a_filesystem_lacks_leaves_nothing_mapped_even_on_hugetlbfs(tmp_path):
    ledger, made = provision.provision(["hugetlbfs"], tmp_path)
    try:
        run_dir = make_run_dir(made[0].directory)
        fs = {**fs_identity(str(run_dir)).as_dict(), "provisioned": made[0].facts}
        lacks = lacking(run_dir, fs)  # its probe mapping is a whole huge page: it must unmap all of it
        remove_run_dir(run_dir)
    finally:
        problems = ledger.teardown()
    assert problems == []  # not "target is busy"
    assert fs["page_size"] == made[0].facts["huge_page_size"]
    assert lacks["file-write"] == "pwrite() of one byte into a file fails here with EINVAL"
    assert lacks["partial-page-files"] == (f"ftruncate() of a file to 1 byte fails here with EINVAL: its files are "
                                           f"whole pages of {made[0].facts['huge_page_size'] >> 10} KiB")
    refused = errno.errorcode[errno.EOPNOTSUPP]
    assert lacks["page-cache-observable"] == f"cachestat(2) of a file here fails with {refused}"
    assert lacks["page-cache-evictable"].startswith("whether its pages were evicted cannot be seen: cachestat(2)")
    assert not {"writable-file", "writable-shared-mapping", "sparse-files", "exec-allowed"} & set(lacks)


@needs_root
@pytest.mark.skipif(provision.availability().get("hugetlbfs") is not None, reason="no hugetlbfs here")
def test_without_cachestat_hugetlbfs_still_lacks_an_observable_page_cache(tmp_path, monkeypatch):
    """A kernel before 6.5 (ENOSYS) leaves mincore(2), which sees a hugetlbfs mapping's own page-table entries only:
    the residency claims must be unsupported there too (on 6.1 they ran, and were refuted)."""
    monkeypatch.setattr("fixtures.libc.cachestat", lambda fd, offset, length: libc.CallResult(None, errno.ENOSYS))
    ledger, made = provision.provision(["hugetlbfs"], tmp_path)
    try:
        run_dir = make_run_dir(made[0].directory)
        lacks = lacking(run_dir, {**fs_identity(str(run_dir)).as_dict(), "provisioned": made[0].facts})
        remove_run_dir(run_dir)
    finally:
        problems = ledger.teardown()
    assert problems == []
    unseen = ("no cachestat(2) (Linux 6.5+), and mincore(2) of one mapping does not count a page of the file that "
              "another mapping holds")
    assert lacks["page-cache-observable"] == unseen
    assert lacks["page-cache-evictable"] == f"whether its pages were evicted cannot be seen: {unseen}"


@needs_root
def test_a_killed_run_is_cleaned_by_the_next(tmp_path):
    script = (f"import sys, time; sys.path.insert(0, {str(ROOT)!r}); from pathlib import Path; from fixtures import provision; "
              f"provision.provision(['tmpfs', 'ext4'], Path({str(tmp_path)!r})); print('ready', flush=True); time.sleep(600)")
    run = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert run.stdout.readline().strip() == "ready"
        assert len(mounts_under(tmp_path)) == 2
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait()
    assert len(mounts_under(tmp_path)) == 2  # SIGKILL: nothing could clean up
    assert mounts.clean_stale(tmp_path) == []
    assert mounts_under(tmp_path) == [] and loops_backed_by(tmp_path) == [] and not list(tmp_path.iterdir())


@needs_root
def test_teardown_never_unmounts_what_it_did_not_mount(tmp_path):
    ledger, _ = provision.provision(["tmpfs"], tmp_path)
    point = Path(ledger.entries[0]["point"])
    subprocess.run(["umount", str(point)], check=True)
    subprocess.run(["mount", "-t", "tmpfs", "someone-else", str(point)], check=True)  # someone else's mount now
    try:
        problems = ledger.teardown()
        assert problems and "left alone" in problems[0]
        assert mount_of(str(point)).source == "someone-else"
    finally:
        subprocess.run(["umount", str(point)], check=True)
    assert ledger.teardown() == []


@needs_root
def test_suite_run_with_fs_leaves_nothing(tmp_path):
    report = tmp_path / "r.json"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(ROOT / "tox.ini"), str(ROOT / "suite"), "-q", "-k", "SYNC-4 or EOF-1", "--fs", "tmpfs,ext4,squashfs,vfat", "--no-install", "--hypothesis-profile=ci",
         f"--report={report}"],
        cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    assert mounts_under(tmp_path) == [] and loops_backed_by(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != ".hypothesis") == ["r.json"]
    import json
    results = json.loads(report.read_text())["results"]
    cells = {r["target"]: r for r in results if r["claim"] == "SYNC-4"}
    assert cells["tmpfs"]["verdict"] == cells["ext4"]["verdict"] == "holds"
    lacks = {t["id"]: set(t["fs"].get("lacks", {})) for t in json.loads(report.read_text())["targets"]}
    writable = {"writable-file", "writable-shared-mapping"}
    assert not writable & (lacks["tmpfs"] | lacks["ext4"])
    assert "page-cache-evictable" in lacks["tmpfs"] - lacks["ext4"]  # tmpfs pages live only in the page cache
    assert cells["vfat"]["verdict"] == "unsupported" and "kernel" in cells["vfat"]["detail"]
    reads = {r["target"]: r for r in results if r["claim"] == "EOF-1"}  # reads only: runs on the image's files
    squashfs_missing = provision.availability()["squashfs"]  # a machine as it comes has no mksquashfs
    if squashfs_missing:
        assert all(c["verdict"] == "unsupported" and squashfs_missing in c["detail"]
                   for c in (cells["squashfs"], reads["squashfs"]))
        return
    assert cells["squashfs"]["verdict"] == "unsupported" and cells["squashfs"]["examples"] == 0  # it writes: not drawn
    assert "(writable-file), but squashfs is a read-only filesystem image" in cells["squashfs"]["detail"]
    assert lacks["squashfs"] >= writable
    assert reads["squashfs"]["verdict"] in ("holds", "refuted") and reads["squashfs"]["examples"] > 0


def _die_with_scratch_mount(image, parent):
    with mounts.scratch_mount(image, "ext4", "ro", parent):
        os._exit(3)


@needs_root
def test_scratch_mount_of_a_dead_process_is_cleaned_by_the_run_teardown(tmp_path):
    from fixtures.probe import probe

    ledger, made = provision.provision(["ext4"], tmp_path)
    try:
        image = tmp_path / "copy.img"
        subprocess.run(["cp", "--sparse=always", made[0].facts["image"], str(image)], check=True)
        with mounts.scratch_mount(image, "ext4", "ro", ledger.root) as point:
            assert mount_of(str(point)).mount_point == str(point)
        assert mounts_under(ledger.root / "ext4") == [str(made[0].directory)]
        assert probe(_die_with_scratch_mount, image, ledger.root).exit_code == 3
        assert len(mounts_under(tmp_path)) == 2  # the provisioned ext4 and the dead process's scratch mount
    finally:
        assert ledger.teardown() == []
    assert mounts_under(tmp_path) == [] and loops_backed_by(tmp_path) == []
