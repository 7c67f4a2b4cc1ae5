"""The requirements registry (harness/requirements.py): one vocabulary for what a claim's test needs of its target,
each measured once per target by a probe in fixtures/capabilities.py. (A claim requiring what its target lacks is
unsupported: tests/test_verdicts.py; the catalog rejects an unknown requirement: tests/test_catalog.py.)"""

from __future__ import annotations

import dataclasses
import errno
import re
import tempfile
from pathlib import Path

import pytest

from fixtures import capabilities, libc
from fixtures.platform import fs_identity
from harness.catalog import catalog
from harness.requirements import REQUIREMENTS, lacking
from harness.targets import Target

READ_ONLY_IMAGE = {"type": "squashfs", "mount_type": "squashfs", "block_size": 4096, "noexec": False, "page_size": 4096,
                   "provisioned": {"name": "squashfs", "read_only": True}}


def test_every_requirement_says_what_a_test_needs_and_names_its_probe():
    for name, requirement in REQUIREMENTS.items():
        assert requirement.name == name and re.fullmatch(r"[a-z]+(-[a-z]+)*", name)
        assert requirement.needs.startswith("its test ")
        assert callable(requirement.probe) and requirement.probe.__module__ == "fixtures.capabilities"


def test_the_claims_whose_files_end_inside_a_page_or_are_written_say_so():
    """hugetlbfs lacks both: these claims are unsupported there, the others run in whole huge pages."""
    claims = {claim.id: claim.requires for claim in catalog().claims}
    assert {"EOF-1", "EOF-3", "BUS-3", "SEED-1"} <= {c for c, requires in claims.items() if "partial-page-files" in requires}
    assert {"SHARED-4", "PRIV-4/read", "EOF-7"} <= {c for c, requires in claims.items() if "file-write" in requires}
    assert not {"file-write", "partial-page-files"} & set(claims["SHARED-1"] + claims["GEOM-2"])


def test_a_local_directory_meets_the_file_requirements_and_the_probes_leave_no_file(tmp_path):
    lacks = lacking(tmp_path, fs_identity(str(tmp_path)).as_dict())
    assert not {"writable-file", "file-write", "partial-page-files", "writable-shared-mapping", "sparse-files"} & set(lacks)
    assert list(tmp_path.iterdir()) == []


def test_a_read_only_image_lacks_what_needs_a_written_file_and_nothing_is_made_there():
    lacks = lacking(Path("/nonexistent"), READ_ONLY_IMAGE)
    for name in ("writable-file", "file-write", "writable-shared-mapping", "page-cache-observable",
                 "page-cache-evictable", "writeback-observable", "backing-device", "sparse-files"):
        assert lacks[name] == "squashfs is a read-only filesystem image"
    assert "partial-page-files" not in lacks  # its corpus holds files that end inside a page


def test_a_noexec_mount_lacks_exec_allowed(tmp_path):
    assert "noexec" in capabilities.exec_refused(tmp_path, {"noexec": True})
    assert capabilities.exec_refused(tmp_path, {"noexec": False}) is None


def test_overlayfs_lacks_an_observable_page_cache_and_write_back():
    assert capabilities.page_cache_elsewhere(Path("/d"), {"type": "overlayfs"}).startswith("overlayfs: a mapping")
    assert capabilities.writeback_unobservable(Path("/d"), {"type": "overlayfs"}).startswith("overlayfs: a mapping")


def test_without_cachestat_mincore_counts_the_pages_of_a_local_file(tmp_path, monkeypatch):
    monkeypatch.setattr("fixtures.libc.cachestat", lambda fd, offset, length: libc.CallResult(None, errno.ENOSYS))
    assert capabilities.page_cache_elsewhere(tmp_path, fs_identity(str(tmp_path)).as_dict()) is None
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not Path("/dev/shm").is_dir() or fs_identity("/dev/shm").type != "tmpfs",
                    reason="no tmpfs at /dev/shm")
def test_tmpfs_pages_cannot_be_evicted_nor_changed_behind_the_cache():
    with tempfile.TemporaryDirectory(dir="/dev/shm") as directory:
        fs = fs_identity(directory).as_dict()
        assert "tmpfs keeps them" in capabilities.pages_stay_cached(Path(directory), fs)
        assert "no backing device" in capabilities.direct_write_refused(Path(directory), fs)
        assert list(Path(directory).iterdir()) == []


def test_a_probe_that_fails_measures_a_lack(tmp_path, monkeypatch):
    def refused(run_dir, fs):
        raise OSError(errno.EINVAL, "Invalid argument")

    monkeypatch.setitem(REQUIREMENTS, "sparse-files", dataclasses.replace(REQUIREMENTS["sparse-files"], probe=refused))
    assert lacking(tmp_path, fs_identity(str(tmp_path)).as_dict())["sparse-files"] == \
        "its probe fails here with EINVAL (Invalid argument)"


def test_a_target_meets_what_it_does_not_lack_and_only_registered_requirements():
    target = Target("t", "/d", "/d/run", {"lacks": {"pagemap-frames": "zeros"}}, "/d/run")
    assert not target.meets("pagemap-frames") and target.meets("sysctl-writable")
    with pytest.raises(KeyError, match="a-fast-disk"):
        target.meets("a-fast-disk")
