"""The kernel matrix (kernels/) and its summary (reports/kernel_summary.py), with stand-ins for QEMU and the
guests (CI's smoke run of the kernel matrix boots a real one)."""

from __future__ import annotations

import dataclasses
import json
import lzma
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fixtures import provision
from fixtures.platform import unprovisioned_fs_identity
from harness.catalog import catalog
from kernels import (VMError, architectures, building, command_line, guest, initramfs, is_built, packages, processes,
                     run_reports, runner, runs)
from kernels.progress import parse_progress
from reports import kernel_summary
from reports.__main__ import main as reports_main
from reports.matrix import from_run, merge
from tests.test_reports import validator

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kernels", *args], cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=120)


@pytest.mark.parametrize("args, message", [
    (["--kernel", "7"], "--kernel 7: give a series (6.1, 6.12), a package (linux-image-6.1.0-56-amd64) or a .deb file"),
    (["--kernel", "missing.deb"], "kernel package missing.deb does not exist"),
    (["--fs", "ext4,nope"], "unknown filesystem nope (known: " + ", ".join(provision.FILESYSTEMS) + ")"),
    (["--timeout", "-3"], "argument --timeout: must be positive: '-3'"),
    (["--timeout", "soon"], "argument --timeout: not a number: 'soon'"),
    (["--jobs", "0"], "argument --jobs: must be at least 1: '0'"),
    (["--accel", "hvf"], "argument --accel: invalid choice: 'hvf' (choose from 'auto', 'kvm', 'tcg')"),
    (["--profile", "fast"], "--profile fast: no such profile; the profiles are dev, ci, thorough, kernel-matrix, kernel-smoke"),
    (["--profile", "default"],  # Hypothesis's own: its deadline fails every example slower than 200 ms
     "--profile default: no such profile; the profiles are dev, ci, thorough, kernel-matrix, kernel-smoke"),
    (["--frobnicate"], "unrecognized arguments: --frobnicate"),
    (["--", "--fs", "ext4"], "pytest option --fs is set by the kernel matrix (use its own options)"),
    (["--", "--report=x.json"], "pytest option --report is set by the kernel matrix (use its own options)"),
    (["--", "-n4"], "pytest option -n4 is set by the kernel matrix (use its own options)"),
    (["--kernel", "{tmp}/linux.deb", "--out", "/proc/mmapconf"], "--out /proc/mmapconf: No such file or directory"),
])
def test_argument_errors_are_one_clear_line(args, message, tmp_path):
    (tmp_path / "linux.deb").touch()
    done = run_cli("--out", str(tmp_path / "out"), *(arg.replace("{tmp}", str(tmp_path)) for arg in args))
    assert done.returncode == runner.EXIT_USAGE, done.stderr
    assert done.stdout == "" and "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [f"python -m kernels: {message}"]


def test_defaults_are_the_host_and_debian_6_1_and_6_12_and_no_host_leaves_the_host_out():
    options = command_line.parse([])
    x86 = architectures.ARCHITECTURES["x86_64"]
    assert options.architectures == [x86] and options.kernels(x86) == ["6.1", "6.12"]
    assert options.host and options.profile == "kernel-matrix"
    assert options.filesystems(x86) == options.filesystems(None) == list(provision.FILESYSTEMS)
    assert not command_line.parse(["--no-host", "--kernel", "6.12"]).host


def test_each_architecture_has_its_kernels_and_filesystems_unless_given():
    options = command_line.parse(["--arch", "arm64-16k,ppc64le", "--arch", "s390x"])
    arm, ppc, s390 = (architectures.ARCHITECTURES[n] for n in ("arm64-16k", "ppc64le", "s390x"))
    assert options.architectures == [arm, ppc, s390]
    assert [options.kernels(a) for a in (arm, ppc, s390)] == [["6.12"], ["6.1", "6.12"], ["6.1"]]
    assert options.filesystems(arm) == ["tmpfs", "ext4", "xfs", "btrfs", "vfat"] and options.filesystems(s390) == ["tmpfs", "ext4"]
    assert options.filesystems(None) == list(provision.FILESYSTEMS)
    given = command_line.parse(["--arch", "all", "--kernel", "6.12", "--fs", "tmpfs"])
    assert [a.name for a in given.architectures] == list(architectures.ARCHITECTURES)
    assert all(given.kernels(a) == ["6.12"] and given.filesystems(a) == ["tmpfs"] for a in given.architectures)


def test_an_architecture_picks_its_flavour_per_series():
    ppc = architectures.ARCHITECTURES["ppc64le"]
    assert (ppc.flavour("6.1"), ppc.flavour("6.12")) == ("powerpc64le", "powerpc64le-64k")
    names = ["linux-image-6.12.117+deb12-arm64", "linux-image-6.12.117+deb12-arm64-16k",
             "linux-image-6.12.118+deb12-arm64-16k-unsigned", "linux-image-6.12.117+deb12-powerpc64le-64k",
             "linux-image-6.12.117+deb12-powerpc64le", "linux-image-6.1.0-50-s390x"]
    assert packages.candidates("6.12", "arm64", names) == ["linux-image-6.12.117+deb12-arm64"]
    assert packages.candidates("6.12", "arm64-16k", names) == ["linux-image-6.12.117+deb12-arm64-16k"]
    assert packages.candidates("6.12", "powerpc64le-64k", names) == ["linux-image-6.12.117+deb12-powerpc64le-64k"]
    assert packages.candidates("6.1", "s390x", names) == ["linux-image-6.1.0-50-s390x"]


def test_a_foreign_architecture_uses_a_private_apt_and_never_the_host_s_dpkg(tmp_path):
    foreign = next(a for a in architectures.ARCHITECTURES.values() if a.debian != packages.host_debian_arch())
    assert packages.Apt(packages.host_debian_arch(), tmp_path).private is None
    apt = packages.Apt(foreign.debian, tmp_path)
    apt._configure()
    conf = (apt.private / "apt.conf").read_text()
    assert f'APT::Architecture "{foreign.debian}";' in conf and str(tmp_path) in conf
    assert apt.qualified("linux-image-x") == f"linux-image-x:{foreign.debian}"


@pytest.mark.parametrize("arch, machine, console, device", [
    ("x86_64", "pc", "ttyS0", "virtio-9p-pci"),
    ("arm64-16k", "virt", "ttyAMA0", "virtio-9p-pci"),
    ("ppc64le", "pseries,x-vof=on", "hvc0", "virtio-9p-pci"),
    ("s390x", "s390-ccw-virtio", "ttysclp0", "virtio-9p-ccw"),
])
def test_a_guest_s_qemu_command_line_is_its_architecture_s(fake_kernel, tmp_path, arch, machine, console, device):
    chosen = architectures.ARCHITECTURES[arch]
    one = guest.Guest(chosen, fake_kernel, tmp_path / "initramfs", tmp_path, "marker", root=tmp_path / "userland",
                      same_path=(ROOT,))
    argv = one.argv()
    assert argv[0] == chosen.qemu and argv[argv.index("-machine") + 1] == machine
    assert f"console={console}" in argv[argv.index("-append") + 1]
    assert any(a.startswith(f"{device},fsdev=mmapconf-root") for a in argv)
    assert f"local,id=mmapconf-root,path={tmp_path / 'userland'}" in " ".join(argv)
    assert f"id=mmapconf-path-0,path={ROOT}," in " ".join(argv)
    assert f"virtio-blk-{chosen.virtio_bus},drive=scratch" in argv


def test_default_filesystems_are_every_one_the_suite_knows_including_guest_only_ones():
    names = command_line.matrix_filesystems([])
    assert names == list(provision.FILESYSTEMS)
    assert {"vfat", "9p-cache-none", "9p-cache-mmap"} <= set(names)
    assert command_line.matrix_filesystems(["tmpfs,ext4", "tmpfs"]) == ["tmpfs", "ext4"]


def test_series_pick_the_newest_generic_amd64_package():
    names = ["linux-image-6.1.0-9-amd64", "linux-image-6.1.0-56-amd64", "linux-image-6.1.0-56-cloud-amd64",
             "linux-image-6.1.0-56-amd64-unsigned", "linux-image-6.1.0-56-rt-amd64", "linux-image-6.12.117+deb12-amd64",
             "linux-image-6.12.9+deb12-amd64", "linux-image-6.12.117+deb12-cloud-amd64", "linux-image-amd64"]
    assert packages.candidates("6.1", "amd64", names) == ["linux-image-6.1.0-56-amd64", "linux-image-6.1.0-9-amd64"]
    assert packages.candidates("6.12", "amd64", names) == ["linux-image-6.12.117+deb12-amd64", "linux-image-6.12.9+deb12-amd64"]
    assert packages.candidates("6.2", "amd64", names) == []


def test_progress_lines_are_understood_and_other_lines_ignored():
    plain = parse_progress("suite/test_bus.py::test_access_page_wholly_beyond_eof_sigbus[BUS-1:ext4-1k] PASSED [  12/1530]")
    assert plain == {"node": "test_bus.py::test_access_page_wholly_beyond_eof_sigbus[BUS-1:ext4-1k]", "outcome": "PASSED",
                     "target": "ext4-1k", "done": 12, "total": 1530}
    reading = parse_progress("suite/test_durability.py::test_fsync_of_mapped_file_in_crash_copy_of_device"
                             "[SYNC-1/fsync:xfs] XFAIL [  13/1530]")
    assert reading["node"] == "test_durability.py::test_fsync_of_mapped_file_in_crash_copy_of_device[SYNC-1/fsync:xfs]"
    assert reading["target"] == "xfs"
    unparametrized = parse_progress("suite/test_model.py::test_catalog_claims_hold_together FAILED  [  36/180]")
    assert unparametrized["target"] == "" and unparametrized["outcome"] == "FAILED"
    assert parse_progress("mmapconf-guest: stage2 up 9.1 s") is None


def test_job_runs_the_suite_with_the_interpreter_by_absolute_path_and_a_time_limit():
    job = runs.job_script("/opt/venv/bin/python", ["tmpfs", "vfat"], "kernel-smoke", 600, ["-k", "BUS or SYNC"])
    command = job.splitlines()[-1]
    assert command.startswith(f"timeout -s TERM -k 120 600 /opt/venv/bin/python -m pytest -c {ROOT / 'tox.ini'} {ROOT / 'suite'}")
    assert "--fs tmpfs,vfat --hypothesis-profile kernel-smoke --report /run/mmapconf/results/report.json" in command
    assert command.endswith("-k 'BUS or SYNC'") and " -n " not in command
    assert " --no-install " in command  # a guest has no network; its root is the host's
    assert f"PYTHONPATH={ROOT}" in job and "cd /run/mmapconf/work" in job


# --- the initramfs ----------------------------------------------------------------------------------

def elf_module(info: dict[str, str], order: str = "<") -> bytes:
    """A minimal relocatable ELF64 with a .modinfo section (null, .modinfo, .shstrtab); ``order`` ">": big-endian."""
    modinfo = b"".join(f"{k}={v}".encode() + b"\0" for k, v in info.items())
    names = b"\0.modinfo\0.shstrtab\0"
    body_at = 64
    shoff = body_at + len(modinfo) + len(names)
    header = b"\x7fELF" + bytes([2, 1 if order == "<" else 2, 1]) + bytes(9) + struct.pack(
        order + "HHIQQQIHHHHHH", 1, 62, 1, 0, 0, shoff, 0, 64, 0, 0, 64, 3, 2)
    section = lambda name, offset, size: struct.pack(order + "IIQQQQIIQQ", name, 1, 0, 0, offset, size, 0, 0, 1, 0)  # noqa: E731
    return (header + modinfo + names + bytes(64) + section(1, body_at, len(modinfo))
            + section(10, body_at + len(modinfo), len(names)))


def parse_cpio(data: bytes) -> dict[str, tuple[int, bytes, int]]:
    entries, at = {}, 0
    while True:
        fields = [int(data[at + 6 + 8 * i:at + 14 + 8 * i], 16) for i in range(13)]
        assert data[at:at + 6] == b"070701"
        name_size, size = fields[11], fields[6]
        name = data[at + 110:at + 110 + name_size - 1].decode()
        at += 110 + name_size
        at += -at % 4
        if name == "TRAILER!!!":
            return entries
        entries[name] = (fields[1], data[at:at + size], fields[9] << 8 | fields[10])
        at += size
        at += -at % 4


@pytest.fixture
def fake_kernel(tmp_path) -> packages.Kernel:
    release = "6.99.0-test-amd64"
    modules = tmp_path / "lib" / "modules" / release
    for path, info in {
        "kernel/net/9p/9pnet.ko": {"name": "9pnet", "depends": ""},
        "kernel/net/9p/9pnet_virtio.ko": {"name": "9pnet_virtio", "depends": "9pnet"},
        "kernel/fs/netfs/netfs.ko": {"name": "netfs", "depends": ""},
        "kernel/fs/9p/9p.ko.xz": {"name": "9p", "depends": "9pnet,netfs"},
        "kernel/lib/crc16.ko.xz": {"name": "crc16", "depends": ""},
        "kernel/fs/ext4/ext4.ko.xz": {"name": "ext4", "depends": "", "softdep": "pre: crc16 post: nothing-after"},
        "kernel/fs/fat/fat.ko": {"name": "fat", "depends": ""},
        "kernel/fs/fat/vfat.ko": {"name": "vfat", "depends": "fat"},
    }.items():
        file = modules / path
        file.parent.mkdir(parents=True, exist_ok=True)
        elf = elf_module(info)
        file.write_bytes(lzma.compress(elf) if path.endswith(".xz") else elf)
    (modules / "modules.builtin").write_text("kernel/drivers/virtio/virtio_pci.ko\nkernel/fs/fuse/fuse.ko\n")
    (tmp_path / "boot").mkdir()
    (tmp_path / "boot" / f"vmlinuz-{release}").write_bytes(b"not a kernel")
    return packages.Kernel("linux-image-test", "1", tmp_path)


@pytest.mark.parametrize("order", ["<", ">"])  # s390x modules are big-endian
def test_modinfo_is_read_from_the_elf_section_in_either_byte_order(order):
    assert initramfs.modinfo(elf_module({"name": "x", "depends": "a,b", "alias": "fs-x"}, order)) == \
        {"name": ["x"], "depends": ["a,b"], "alias": ["fs-x"]}


def test_initramfs_holds_busybox_init_console_and_modules_dependencies_first(fake_kernel, tmp_path):
    busybox = tmp_path / "busybox"
    busybox.write_bytes(b"\x7fELF fake busybox")
    entries, absent = initramfs.initramfs_entries(fake_kernel, busybox)
    files = parse_cpio(initramfs.cpio(entries))
    mode, init, _ = files["init"]
    assert mode == 0o100755 and init.startswith(b"#!/bin/busybox sh")
    text = init.decode()
    for needed in ("mmapconf-root", "cache=loose", ",ro", "mount -t overlay", "mmapconf-results", "mmapconf-modules",
                   "/lib/modules/$(uname -r)", "/dev/vda", "switch_root /newroot"):
        assert needed in text, needed
    assert files["bin/busybox"] == (0o100755, b"\x7fELF fake busybox", 0)
    assert files["dev/console"][0] == 0o020600 and files["dev/console"][2] == (5 << 8 | 1)
    assert b"job.sh" in files["stage2"][1] and b"poweroff -f" in files["stage2"][1]
    order = [line.split()[0] for line in files["modules/order"][1].decode().splitlines()]
    assert order.index("9pnet") < order.index("9pnet_virtio") and order.index("netfs") < order.index("9p")
    assert order.index("crc16") < order.index("ext4") and order.index("fat") < order.index("vfat")
    assert len(order) == len(set(order)) == 8
    for name in order:  # .ko.xz decompressed: the kernel gets plain ELF
        assert files[f"modules/{name}.ko"][1].startswith(b"\x7fELF")
    assert "virtio_pci" not in absent and "fuse" not in absent  # built in
    assert "xfs" in absent and "btrfs" in absent  # neither module nor built in: the guest reports the fs unsupported
    assert files["same-path"][1] == b""  # the host's root has everything at its place


def test_a_foreign_guest_s_initramfs_mounts_the_host_directories_at_their_paths_and_loads_its_modules_first(fake_kernel, tmp_path):
    busybox = tmp_path / "busybox"
    busybox.write_bytes(b"\x7fELF another architecture's busybox")
    entries, absent = initramfs.initramfs_entries(fake_kernel, busybox, ("vfat", "virtio_mmio"), (ROOT, tmp_path / "site"))
    files = parse_cpio(initramfs.cpio(entries))
    assert files["same-path"][1].decode().splitlines() == [f"mmapconf-path-0 {ROOT}", f"mmapconf-path-1 {tmp_path / 'site'}"]
    assert 'done < /same-path' in files["init"][1].decode()
    order = [line.split()[0] for line in files["modules/order"][1].decode().splitlines()]
    assert order[:2] == ["fat", "vfat"] and "virtio_mmio" in absent


def test_initramfs_is_cached_by_content(fake_kernel, tmp_path):
    busybox = tmp_path / "busybox"
    busybox.write_bytes(b"one")
    first, _ = initramfs.build_initramfs(fake_kernel, busybox)
    assert initramfs.build_initramfs(fake_kernel, busybox)[0] == first
    busybox.write_bytes(b"two")
    second, _ = initramfs.build_initramfs(fake_kernel, busybox)
    assert second != first and second.is_file() and not first.exists()


# --- reports ----------------------------------------------------------------------------------------

def failed_run(release: str = "6.99.0-test-amd64") -> runs.Run:
    return runs.Run(release, "guest", release, package="linux-image-test", version="1", accel="tcg", status="no-boot",
                    reason="the kernel did not reach its init in 300 s (killed)", total_s=300.0,
                    console_tail=["[    0.000000] Linux version 6.99.0-test", "Kernel panic - not syncing: VFS: Unable to mount root"])


def ok_report(release: str, verdicts: dict[tuple[str, str], str], fs: list[str]) -> dict:
    """A run report as a guest would write it: every claim holds except ``verdicts``; ``fs`` provisioned."""
    doc = run_reports.stand_in_report(failed_run(release), fs, "kernel-matrix")
    doc["run"]["exit_status"] = 0
    del doc["run"]["kernel_matrix"]
    for target in doc["targets"]:
        target["fs"].update(magic="0x1", mount_point=f"/mnt/{target['id']}", block_size=4096)
    for cell in doc["results"]:
        cell.update(verdict=verdicts.get((cell["claim"], cell["target"]), "holds"), detail="", as_expected=True, examples=10)
    return doc


def test_a_failed_guest_becomes_error_cells_with_the_reason_and_console_tail():
    doc = run_reports.stand_in_report(failed_run(), ["tmpfs", "vfat"], "kernel-matrix")
    assert len(doc["results"]) == len(catalog().claims) * 2
    assert {c["verdict"] for c in doc["results"]} == {"error"} and not any(c["as_expected"] for c in doc["results"])
    detail = doc["results"][0]["detail"]
    assert detail.startswith("the kernel did not reach its init in 300 s (killed); guest console tail:")
    assert "Kernel panic - not syncing" in detail
    assert doc["host"]["kernel_release"] == "6.99.0-test-amd64"
    assert doc["run"]["kernel_matrix"]["status"] == "no-boot"
    assert doc["run"]["kernel_matrix"]["console_tail"][-1].startswith("Kernel panic")


def test_reports_validate_against_the_schemas(tmp_path):
    failed = run_reports.stand_in_report(failed_run(), ["tmpfs"], "kernel-matrix")
    validator("report-v1").validate(failed)
    guest = ok_report("6.1.0-1-amd64", {}, ["tmpfs"])
    guest["run"]["kernel_matrix"] = dict(runs.Run("6.1.0-1-amd64", "guest", "6.1.0-1-amd64", accel="tcg").info(),
                                         matrix_wall_s=12.5)
    validator("report-v1").validate(guest)
    matrix = merge([from_run(failed), from_run(guest)])
    validator("matrix-v1").validate(matrix)


def test_merge_and_summary_show_kernel_differences_coverage_and_the_failed_guest():
    claim, lacking = catalog().claims[0].id, catalog().claims[1].id
    old = ok_report("6.1.0-1-amd64", {(claim, "ext4"): "refuted", (lacking, "tmpfs"): "unsupported"},
                    ["tmpfs", "ext4", "vfat"])
    new = ok_report("6.12.1+deb12-amd64", {}, ["tmpfs", "ext4", "vfat"])
    for target in new["targets"]:  # 6.12 could not provide vfat: a coverage difference, not a verdict difference
        if target["id"] == "vfat":
            target["fs"].update(unprovisioned_fs_identity("vfat").as_dict())
    for cell in new["results"]:
        if cell["target"] == "vfat":
            cell.update(verdict="unsupported", detail="the running kernel has no vfat (not in /proc/filesystems)")
    broken = run_reports.stand_in_report(failed_run(), ["tmpfs", "ext4", "vfat"], "kernel-matrix")
    for doc in (old, new):
        release = doc["host"]["kernel_release"]
        doc["run"]["kernel_matrix"] = runs.Run(release, "guest", release, accel="tcg").info()
    matrix = merge([from_run(old), from_run(new), from_run(broken)])
    assert len(matrix["columns"]) == 9
    found, coverage = kernel_summary.differences(matrix)
    assert sorted((f["claim"], f["fs"], tuple(f["verdicts"].values())) for f in found) == sorted([
        (claim, "ext4", ("refuted", "holds")), (lacking, "tmpfs", ("unsupported", "holds"))])  # the failed guest: shown once
    assert [[f["claim"] for f in part] for part in kernel_summary.split_differences(found)] == [[claim], [lacking]]
    assert coverage["vfat"]["6.12.1+deb12-amd64"].startswith("the running kernel has no vfat")
    text = "\n".join(kernel_summary.lines(matrix))
    assert text.startswith("kernel matrix: 3 kernel(s) x 3 filesystem(s), ")
    assert f">> {claim} " in text and f">> {lacking} " not in text
    assert text.split("checked on some kernels only")[1].splitlines()[1].split()[:4] == [lacking, "unsupported", "on",
                                                                                           "6.1.0-1-amd64"]
    assert "!! no-boot: the kernel did not reach its init in 300 s (killed)" in text
    assert "Kernel panic - not syncing" in text
    assert "vfat" in text.split("could not provide")[1].split("differences")[0]
    page = kernel_summary.markdown(matrix)
    assert "## Differences between kernels (1)" in page and f"**{claim}**" in page.split("## Checked on")[0]
    assert f"**{lacking}**" in page.split("## Checked on some kernels only (1)")[1]


def test_a_guest_report_names_missing_modules_in_unsupported_cells_and_unreached_claims_become_errors():
    doc = ok_report("6.1.0-1-amd64", {}, ["tmpfs", "vfat"])
    first, second = catalog().claims[0].id, catalog().claims[1].id
    for target in doc["targets"]:
        if target["id"] == "vfat":
            target["fs"].update(unprovisioned_fs_identity("vfat").as_dict())
    for cell in doc["results"]:
        if cell["target"] == "vfat":
            cell.update(verdict="unsupported", detail="the running kernel has no vfat (not in /proc/filesystems)")
        if cell["target"] == "tmpfs" and cell["claim"] == second:
            cell.update(verdict="not run")
    run = runs.Run("6.1.0-1-amd64", "guest", "6.1.0-1-amd64", status="suite-timeout",
                   reason="the suite did not finish in 60 s (stopped in the guest)",
                   console_tail=["mmapconf-guest: module xfs not loaded: insmod: can't insert 'xfs.ko': no memory",
                                 "mmapconf-guest: module vfat not loaded: insmod: can't insert 'vfat.ko': unknown symbol"])
    cells = {(c["claim"], c["target"]): c for c in run_reports.annotate(doc, run)["results"]}
    assert cells[(first, "vfat")]["detail"] == ("the running kernel has no vfat (not in /proc/filesystems); guest console: "
                                                "mmapconf-guest: module vfat not loaded: insmod: can't insert 'vfat.ko': "
                                                "unknown symbol")  # the xfs line is another filesystem's
    assert cells[(second, "tmpfs")]["verdict"] == "error"
    assert cells[(second, "tmpfs")]["detail"].startswith("the suite did not finish in 60 s (stopped in the guest): this claim was not reached")
    assert cells[(first, "tmpfs")]["verdict"] == "holds"


def _with_cell(**changes):
    def change(doc):
        doc["results"][0].update(changes)
        return json.dumps(doc)
    return change


@pytest.mark.parametrize("written, problem", [
    (lambda doc: json.dumps(doc)[:200], "not JSON ("),  # cut short
    (lambda doc: "[" * 100_000, "not JSON (maximum recursion depth exceeded"),
    (_with_cell(verdict="fine"), 'results[0].verdict: "fine" is not one of "holds"'),
    (_with_cell(target="ext4"), 'results[0].target: "ext4" is not in targets'),
    (lambda doc: json.dumps(from_run(doc)), "a mmapconf-matrix file, not a run report (mmapconf-report)"),
])
def test_an_invalid_guest_report_makes_its_run_error_cells_with_one_clear_reason(tmp_path, written, problem):
    options = command_line.parse(["--fs", "tmpfs", "--out", str(tmp_path / "out")])
    options.out.mkdir()
    report = options.out / "6.1.0-1-amd64.json"
    guest_wrote = written(ok_report("6.1.0-1-amd64", {}, ["tmpfs"]))  # once: the report carries the time it is made
    report.write_text(guest_wrote)
    run = runs.Run("6.1.0-1-amd64", "guest", "6.1.0-1-amd64", accel="tcg", report=report, console_tail=["done"])
    [doc] = run_reports.collect([run], options, 1.0)
    assert run.status == "crashed"
    assert run.reason.startswith(f"its report is not valid: {report}: {problem}") and "\n" not in run.reason
    assert {c["verdict"] for c in doc["results"]} == {"error"}
    assert doc["results"][0]["detail"] == f"{run.reason}; guest console tail:\ndone"
    assert report.read_text() == guest_wrote  # kept as the guest wrote it
    validator("report-v1").validate(doc)


def test_an_invalid_report_of_a_stopped_suite_keeps_why_it_stopped(tmp_path):
    run = runs.Run("6.1.0-1-amd64", "guest", "6.1.0-1-amd64", status="suite-timeout",
                   reason="the suite did not finish in 60 s (stopped in the guest)", report=tmp_path / "report.json")
    run.report.write_text("{")
    assert run_reports.read_report(run) is None
    assert run.status == "suite-timeout"
    assert run.reason.startswith("the suite did not finish in 60 s (stopped in the guest); its report is not valid: ")


# --- the ledger of QEMU processes -------------------------------------------------------------------

def test_a_killed_runner_s_qemu_is_killed_by_the_next_run(tmp_path):
    """A stand-in for QEMU (a sleeping process carrying the run's marker) outlives its runner's SIGKILL;
    clean_stale finds the dead runner's record and kills it, and nothing else."""
    script = (f"import sys, time; sys.path.insert(0, {str(ROOT)!r}); from pathlib import Path; from kernels import processes; "
              f"ledger = processes.ProcessLedger.create(Path({str(tmp_path)!r})); marker = ledger.marker('g'); "
              f"ledger.start([sys.executable, '-c', 'import time; time.sleep(600)', marker], marker); "
              f"print(marker, flush=True); time.sleep(600)")
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", "mmapconf-run-not-ours"])
    dead = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        marker = dead.stdout.readline().strip()
        assert marker.startswith("mmapconf-run-")
        dead.send_signal(signal.SIGKILL)
        dead.wait()
        assert len(processes.processes_with(marker)) == 1  # SIGKILL: nothing could clean up
        assert processes.clean_stale(tmp_path) == []
        deadline = time.monotonic() + 10
        while processes.processes_with(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert processes.processes_with(marker) == []
        assert not list((tmp_path / "runs").iterdir())
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()
        for pid in processes.processes_with(marker) if "marker" in locals() else []:
            os.kill(pid, signal.SIGKILL)


def test_missing_host_tools_give_the_install_command(monkeypatch):
    monkeypatch.setattr(packages, "missing_host_packages", lambda architectures: ["qemu-system-x86", "busybox-static"])
    monkeypatch.setattr(os, "geteuid", lambda: 1000)  # not root: nothing is installed
    with pytest.raises(VMError) as raised:
        packages.ensure_host_tools([architectures.ARCHITECTURES["x86_64"]])
    assert str(raised.value) == ("qemu-system-x86, busybox-static not installed "
                                 "(apt-get install --no-install-recommends qemu-system-x86 busybox-static)")


def test_each_architecture_needs_its_qemu_and_a_foreign_one_mmdebstrap(monkeypatch):
    monkeypatch.setattr(packages.shutil, "which", lambda tool: None)
    monkeypatch.setattr(packages, "_static", lambda path: True)
    arch = architectures.ARCHITECTURES
    assert packages.missing_host_packages([arch["x86_64"]]) == ["e2fsprogs", "qemu-system-x86"]
    assert packages.missing_host_packages([arch["arm64"], arch["arm64-16k"], arch["s390x"]]) == [
        "e2fsprogs", "qemu-system-arm", "mmdebstrap", "qemu-system-misc"]


def test_a_difference_within_a_kernel_series_is_shown_by_platform():
    claim = catalog().claims[0].id
    docs = []
    for release, page, verdicts in (("6.12.117+deb12-arm64-16k", 16384, {(claim, "ext4"): "refuted"}),
                                    ("6.12.117+deb12-arm64", 4096, {}),
                                    ("6.1.0-57-arm64", 4096, {(claim, "ext4"): "refuted"})):
        doc = ok_report(release, verdicts, ["ext4"])
        doc["host"].update(arch="aarch64", page_size=page, byte_order="little")
        docs.append(doc)
    text = "\n".join(kernel_summary.lines(merge([from_run(d) for d in docs])))
    assert "by platform, same series 6.12: aarch64, 16 KiB pages, LE: refuted | aarch64, 4 KiB pages, LE: holds" in text
    assert "same series 6.1:" not in text  # one platform there: the kernels differ, not the platforms


def test_only_refuted_or_error_cells_against_the_expectations_count_as_contradictions():
    cells = [{"claim": "A", "column": "k/fs/t", "verdict": "refuted", "as_expected": False},
             {"claim": "B", "column": "k/fs/t", "verdict": "error", "as_expected": False},
             {"claim": "C", "column": "k/fs/t", "verdict": "holds", "as_expected": False},  # recorded refuted: few examples
             {"claim": "D", "column": "k/fs/t", "verdict": "refuted", "as_expected": True}]
    assert [c["claim"] for c in kernel_summary.contradictions({"results": cells})] == ["A", "B"]


@pytest.fixture
def no_vm(monkeypatch, tmp_path):
    """main() with the host run and the guests replaced by stand-ins that 'return' the given reports."""
    claim = catalog().claims[0].id
    monkeypatch.setattr(packages, "resolve", lambda spec, arch, cache: spec)
    monkeypatch.setattr(packages, "ensure_host_tools", lambda architectures, say: None)
    monkeypatch.setattr(runs, "prepare_guest", lambda arch, spec, options, ledger, progress: runs.Prepared(
        runs.Run(f"{spec}.0-1-amd64", "guest", f"{spec}.0-1-amd64", arch=arch.name, accel="tcg"), arch))
    outcomes = {}

    def finish(run: runs.Run, options) -> runs.Run:
        doc = outcomes[run.label]
        if doc is None:
            run.status, run.reason, run.console_tail = "timeout", "the guest did not finish in 9 s (killed)", ["stuck"]
        else:
            run.report = options.out / f"{run.label}.json"
            run.report.write_text(json.dumps(doc))
        return run

    monkeypatch.setattr(runs, "boot_guest", lambda prepared, options, ledger, progress: finish(prepared.run, options))
    monkeypatch.setattr(runs, "run_host", lambda options, ledger, progress: finish(runs.Run("host (host)", "host", "host"), options))
    return claim, outcomes


def test_main_merges_every_run_and_its_exit_status_says_how_it_went(no_vm, tmp_path, capsys):
    claim, outcomes = no_vm
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    args = ["--kernel", "6.1", "--fs", "tmpfs,ext4", "--cache", str(tmp_path / "cache")]
    outcomes.update({"host (host)": ok_report("host", {}, ["tmpfs", "ext4"]),
                     "6.1.0-1-amd64": ok_report("6.1.0-1-amd64", {}, ["tmpfs", "ext4"])})
    assert runner.main(args + ["--out", str(tmp_path / "ok")]) == runner.EXIT_OK
    matrix = json.loads((tmp_path / "ok" / "matrix.json").read_text())
    assert len(matrix["columns"]) == 4 and (tmp_path / "ok" / "matrix.html").is_file()
    printed = capsys.readouterr().out
    assert "differences between kernels (same claim, same filesystem, checked on each, different verdict): 0" in printed
    # the summary is the matrix's alone: python -m reports kernels prints the same, and writes the same summary.md
    assert reports_main(["kernels", str(tmp_path / "ok" / "matrix.json")]) == 0
    assert printed.startswith(capsys.readouterr().out)
    assert reports_main(["kernels", "--markdown", str(tmp_path / "ok" / "matrix.json")]) == 0
    assert capsys.readouterr().out == (tmp_path / "ok" / "summary.md").read_text()

    refuted = ok_report("6.1.0-1-amd64", {(claim, "ext4"): "refuted"}, ["tmpfs", "ext4"])
    next(c for c in refuted["results"] if c["verdict"] == "refuted")["as_expected"] = False
    outcomes["6.1.0-1-amd64"] = refuted
    assert runner.main(args + ["--out", str(tmp_path / "refuted")]) == runner.EXIT_UNEXPECTED
    out = capsys.readouterr().out
    assert f">> {claim} " in out and f"{claim} on 6.1.0-1-amd64/" in out.splitlines()[-1]

    outcomes["6.1.0-1-amd64"] = None  # the guest hung
    assert runner.main(args + ["--out", str(tmp_path / "hung")]) == runner.EXIT_RUN_FAILED
    out = capsys.readouterr().out
    assert "!! timeout: the guest did not finish in 9 s (killed)" in out and "| stuck" in out
    cells = json.loads((tmp_path / "hung" / "matrix.json").read_text())["results"]
    assert {c["verdict"] for c in cells if c["column"].startswith("6.1.0-1-amd64/")} == {"error"}
    assert not list((tmp_path / "cache" / "runs").iterdir())  # every run directory removed
    assert {sig: signal.getsignal(sig) for sig in handlers} == handlers  # or later children would ignore SIGTERM


# --- a guest that hangs or never boots (a stand-in for QEMU) ----------------------------------------

FAKE_QEMU = r'''#!{python}
import sys, time
mode = {mode!r}
print("[    0.000000] Linux version 6.99.0-fake", flush=True)
if mode == "no-boot":
    time.sleep(600)
print("mmapconf-guest: stage2 up 1.0 s", flush=True)
if mode == "hang":
    time.sleep(600)
results = next(arg.split("path=")[1].split(",")[0] for arg in sys.argv if "id=mmapconf-results,path=" in arg)
open(results + "/exit_status", "w").write("0\n")
print("mmapconf-guest: job exited with status 0", flush=True)
'''


@pytest.mark.parametrize("mode, status, reason", [
    ("no-boot", "no-boot", "the kernel did not reach its init in 1 s (killed)"),
    ("hang", "timeout", "the guest did not finish in 2 s (killed)"),
    ("ok", "ok", ""),
])
def test_a_guest_that_never_boots_or_hangs_is_killed_and_says_so(fake_kernel, tmp_path, monkeypatch, mode, status, reason):
    qemu = tmp_path / "qemu"
    qemu.write_text(FAKE_QEMU.format(python=sys.executable, mode=mode))
    qemu.chmod(0o755)
    arch = dataclasses.replace(architectures.ARCHITECTURES["x86_64"], qemu=str(qemu))
    ledger = processes.ProcessLedger.create(tmp_path)
    one = guest.Guest(arch, fake_kernel, tmp_path / "initramfs", ledger.root / "guest", ledger.marker("guest"), scratch_gb=1)
    one.directory.mkdir()
    try:
        one.prepare("true\n")
        boot = guest.boot_and_wait(one, ledger, timeout=2, boot_timeout=1)
        assert processes.processes_with(one.marker) == []
    finally:
        assert ledger.teardown() == []
    assert (boot.status, boot.reason) == (status, reason)
    assert boot.console[0] == "[    0.000000] Linux version 6.99.0-fake"
    assert (boot.exit_status, boot.boot_s is not None) == ((0, True) if mode == "ok" else (None, mode == "hang"))


def test_a_cached_tree_is_built_aside_and_only_a_finished_one_counts(tmp_path):
    tree = tmp_path / "cache" / "tree"
    with pytest.raises(VMError):
        with building(tree) as partial:
            (partial / "half").touch()
            raise VMError("download failed")
    assert not tree.exists() and list((tmp_path / "cache").iterdir()) == []
    tree.mkdir()
    (tree / "stale").touch()  # left by a killed run: unfinished, replaced
    assert not is_built(tree)
    with building(tree) as partial:
        (partial / "whole").touch()
    assert is_built(tree) and sorted(p.name for p in tree.iterdir()) == [".complete", "whole"]
