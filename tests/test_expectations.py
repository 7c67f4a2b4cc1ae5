"""Expectation files: validation and the platform predicate."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fixtures.platform import kernel_upstream
from harness.catalog import CLAIMS_DIR, CatalogError, catalog, shown_path
from harness.expectations import (EXPECTATIONS_DIR, expectation_for, fs_names_in_expectations, has_small_blocks,
                                  kernel_in_range, load_expectations, parse_expectation)

BASE = {"claim": "SYNC-4", "verdict": "refuted", "reason": "r", "reference": "ref"}


@pytest.mark.parametrize("release, spec, inside", [
    ("6.18.44-fc-v669", "", True),
    ("6.18.44-fc-v669", ">=6.1", True),
    ("6.18.44-fc-v669", ">=6.1,<6.12", False),
    ("6.1.0-28-amd64", ">=6.1,<6.12", True),
    ("6.12", "==6.12.0", True),
    ("5.4.0", ">5.4", False),
    ("6.12.117+deb12-amd64", "<6.12.200", True),
    ("6.12.117+deb12-amd64", ">=6.12.5", True),
])
def test_kernel_range(release, spec, inside):
    assert kernel_in_range(release, spec) is inside


@pytest.mark.parametrize("release, version, upstream", [
    ("6.1.0-56-amd64", "#1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2025-11-10)", "6.1.192"),
    ("6.12.117+deb12-amd64", "#1 SMP PREEMPT_DYNAMIC Debian 6.12.117-1~deb12u1 (2025-11-01)", "6.12.117"),
    ("6.18.44-fc-v669", "#1 SMP Tue Nov 4 2026", "6.18.44"),
    ("6.1.0-56-amd64", "#1 SMP Debian 5.10.1-1", "6.1.0"),  # not this kernel's: ignored
])
def test_bounds_compare_against_the_upstream_version(release, version, upstream):
    assert kernel_upstream(release, version) == upstream


def test_predicate_matches_os_kernel_and_filesystem():
    expectation = parse_expectation(dict(BASE, os="Linux", kernel=">=6.1", fs=["tmpfs"]), catalog(), Path("x.toml"), 1)
    assert expectation.applies("Linux", "6.18.1", ("tmpfs",))
    assert not expectation.applies("Linux", "6.18.1", ("ext4",))
    assert not expectation.applies("Linux", "5.10.0", ("tmpfs",))
    assert not expectation.applies("FreeBSD", "14.0", ("tmpfs",))


def test_a_small_blocks_entry_applies_only_where_blocks_are_smaller_than_pages(tmp_path):
    entry = parse_expectation(dict(BASE, fs=["ext4"], small_blocks=True), catalog(), Path("x.toml"), 1)
    assert entry.applies("Linux", "6.12.117", ("ext4",), small_blocks=True)
    assert not entry.applies("Linux", "6.12.117", ("ext4",), small_blocks=False)
    assert has_small_blocks({"type": "ext4", "block_size": 1024, "page_size": 4096})
    assert has_small_blocks({"type": "ext4", "block_size": 4096, "page_size": 16384})
    assert not has_small_blocks({"type": "ext4", "block_size": 4096, "page_size": 4096})
    assert not has_small_blocks({"type": "hugetlbfs", "block_size": 2 << 20, "page_size": 2 << 20})
    with pytest.raises(CatalogError, match="'small_blocks' is true or absent"):
        parse_expectation(dict(BASE, small_blocks=False), catalog(), Path("x.toml"), 1)
    # where both match, the entry asking for small blocks is the one that applies
    (tmp_path / "a.toml").write_text(THIS_FS.replace("overlayfs", "ext4") + THIS_FS.replace("overlayfs", "ext4").replace(
        'fs = ["ext4"]', 'fs = ["ext4"]\nsmall_blocks = true').replace("private-copy", "file-contents"))
    assert expectation_for(tmp_path, "BUS-5/untouched", "Linux", "6.18.1", ("ext4",), True).small_blocks
    assert not expectation_for(tmp_path, "BUS-5/untouched", "Linux", "6.18.1", ("ext4",)).small_blocks


def test_entry_for_the_filesystem_takes_precedence_over_one_for_every_filesystem(tmp_path):
    (tmp_path / "a.toml").write_text(EVERY_FS + THIS_FS)
    (tmp_path / "b.toml").write_text(THIS_FS.replace("overlayfs", "tmpfs"))
    assert expectation_for(tmp_path, "BUS-5/untouched", "Linux", "6.18.1", ("overlayfs", "overlay-ext4")).fs == ("overlayfs",)
    assert expectation_for(tmp_path, "BUS-5/untouched", "Linux", "6.18.1", ("ext4",)).fs == ()


EVERY_FS = '''
[[expect]]
claim = "BUS-5/untouched"
verdict = "observed"
alternatives = ["sigbus"]
os = "Linux"
reason = "r"
reference = "x"
'''
THIS_FS = EVERY_FS.replace('os = "Linux"', 'os = "Linux"\nfs = ["overlayfs"]').replace('["sigbus"]', '["old-contents", "sigbus"]')


def test_provisioned_filesystem_matches_by_its_name_as_well_as_its_type():
    by_name = parse_expectation(dict(BASE, fs=["overlay-tmpfs"]), catalog(), Path("x.toml"), 1)
    upper_on_tmpfs = {"type": "overlayfs", "provisioned": {"name": "overlay-tmpfs"}}
    upper_on_ext4 = {"type": "overlayfs", "provisioned": {"name": "overlay-ext4"}}
    assert fs_names_in_expectations(upper_on_tmpfs) == ("overlayfs", "overlay-tmpfs")
    assert fs_names_in_expectations({"type": "ext4"}) == ("ext4",)
    assert by_name.applies("Linux", "6.18.1", fs_names_in_expectations(upper_on_tmpfs))
    assert not by_name.applies("Linux", "6.18.1", fs_names_in_expectations(upper_on_ext4))


@pytest.mark.parametrize("changes, message", [
    ({"reason": None}, "'reason' is required"),
    ({"reference": ""}, "'reference' is required"),
    ({"claim": "NOPE-1"}, "no claim NOPE-1"),
    ({"verdict": "holds"}, "verdict must be"),
    ({"verdict": "observed", "alternatives": ["x"]}, "needs an impl claim"),
    ({"claim": "GEOM-6", "verdict": "observed", "alternatives": ["not-an-alternative"]}, "alternatives from its list"),
    ({"kernel": "6.1"}, "kernel must be bounds"),
    ({"fs": "tmpfs"}, "'fs' must be a list"),
    ({"colour": "red"}, "unknown field"),
])
def test_bad_expectation_is_rejected(changes, message):
    entry = {k: v for k, v in {**BASE, **changes}.items() if v is not None}
    with pytest.raises(CatalogError, match=message):
        parse_expectation(entry, catalog(), Path("x.toml"), 1)


def test_project_expectations_load():
    load_expectations(catalog())


def test_errors_name_the_file_with_its_directory(tmp_path):
    # the claims and the expectations both have an open.toml
    assert shown_path(EXPECTATIONS_DIR / "open.toml") == "suite/expectations/open.toml"
    assert shown_path(CLAIMS_DIR / "open.toml") == "suite/claims/open.toml"
    (tmp_path / "open.toml").write_text('[[expect]]\nclaim = "NOPE-1"\nverdict = "refuted"\nreason = "r"\nreference = "x"\n')
    with pytest.raises(CatalogError, match=f"^{re.escape(str(tmp_path / 'open.toml'))} entry #1: no claim NOPE-1"):
        load_expectations(catalog(), tmp_path)


def test_expectation_keeps_its_file_name():
    assert parse_expectation(BASE, catalog(), EXPECTATIONS_DIR / "open.toml", 1).file == "open.toml"


@pytest.mark.parametrize("make, problem", [(lambda path: None, "does not exist"),
                                           (lambda path: path.write_text(""), "is not a directory")])
def test_expectations_path_that_is_no_directory_is_an_error(tmp_path, make, problem):
    path = tmp_path / "expectations"
    make(path)
    with pytest.raises(CatalogError, match=f"^expectations directory {re.escape(str(path))} {problem} "):
        load_expectations(catalog(), path)
