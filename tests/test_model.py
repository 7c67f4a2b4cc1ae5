"""The model-based test (suite/model/) can fail, and says why.

Three parts:
- the reference model alone (pure, small pages): what it says the file and the mappings hold;
- seeded faults: a model that forgets EOF zeroing, one that lets private writes reach the file, and one that
  ignores truncation SIGBUS, each run against a real file with a small derandomized budget. The machine must
  catch each, name a claim that makes the broken invariant, and shrink the failure to a few steps whose
  printed reproduction runs on its own;
- the signal-free memory reads the checks rely on (fixtures/procmem.py).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from fixtures import libc, procmem
from fixtures.files import Workspace
from fixtures.probe import Child
from fixtures.platform import fs_identity, host_identity
from harness.catalog import catalog
from harness.expectations import EXPECTATIONS_DIR, expectation_for
from suite.model import reference
from suite.model.machine import ModelDiscrepancy, ModelMachine
from suite.model.platform_choice import platform_for
from suite.model.reference import INACCESSIBLE, STORE, TRUNC_ZERO, Image, Model, Platform, origin
from suite.model.reproduction import steps_in
from suite.model import machine as machine_module, sequences
from suite.model.sequences import run_sequences
from suite.scenarios import model as scenario

ROOT = Path(__file__).resolve().parent.parent
P = 16  # the pure model's page size in these tests


def view_bytes(model: Model, map_id: int, index: int) -> bytes | str:
    got = model.view(map_id, index)
    return got if got is INACCESSIBLE else bytes(got.data)


# -- the reference model --------------------------------------------------------------------------


def test_bytes_past_eof_in_the_last_page_are_zero_and_later_pages_inaccessible():
    model = Model(page=P)
    model.initial(b"abcde")
    shared = model.mmap("self", True, 0, 3)
    assert view_bytes(model, shared, 0) == b"abcde" + bytes(P - 5)  # EOF-1
    assert model.view(shared, 1) is INACCESSIBLE  # BUS-1
    assert model.check_read(b"abcde") is None and model.check_size(5) is None


def test_store_past_eof_reads_as_stored_or_zero_and_never_reaches_the_file():
    model = Model(page=P)
    model.initial(b"abcde")
    shared = model.mmap("self", True, 0, 1)
    model.store(shared, 4, b"XYZ")  # one byte of file, two past EOF
    assert model.check_read(b"abcdX") is None and model.size == 5  # EOF-2, EOF-4
    stored = b"abcdXYZ" + bytes(P - 7)
    assert model.check_view(shared, 0, stored) is None
    zeroed = b"abcdX" + bytes(P - 5)  # written back: the filesystem zeroed the tail
    assert model.check_view(shared, 0, zeroed) is None
    assert model.check_view(shared, 0, stored) is not None  # once zero, it stays zero
    garbage = b"abcdX" + b"Q" + bytes(P - 6)
    assert model.check_view(shared, 0, garbage).claim == "EOF-1"


def test_truncation_zeroes_the_new_tail_and_cuts_pages_and_their_private_copies():
    model = Model(page=P)
    model.initial(bytes(range(1, 3 * P + 1)))
    shared = model.mmap("self", True, 0, 3)
    private = model.mmap("self", False, 0, 3)
    model.store(private, 0, b"p")
    model.store(private, P + 1, b"q")
    model.store(private, 2 * P + 1, b"r")
    model.truncate(P + 4)
    assert view_bytes(model, shared, 1) == bytes(range(P + 1, P + 5)) + bytes(P - 4)  # BUS-3
    assert model.view(shared, 2) is INACCESSIBLE  # BUS-2
    assert model.view(private, 2) is INACCESSIBLE and 2 in model.maps[private].discarded  # BUS-5/copied: sigbus
    copy = view_bytes(model, private, 1)  # the copy of the page holding the new EOF is kept, tail included (PRIV-5)
    assert copy[:2] == bytes([P + 1]) + b"q" and copy[4:] == bytes(range(P + 5, 2 * P + 1))
    model.truncate(3 * P)
    assert view_bytes(model, private, 2) == bytes(P)  # back: the file's zeros, the copy is gone (BUS-6)
    assert model.check_view(shared, 2, None).claim == "BUS-6"


@pytest.mark.parametrize("eof3_zeroes", [True, False])
def test_growth_by_ftruncate_follows_eof3_and_growth_by_write_leaves_a_zero_hole(eof3_zeroes):
    model = Model(Platform(eof3_zeroes=eof3_zeroes), page=P)
    model.initial(b"ab")
    shared = model.mmap("self", True, 0, 1)
    model.store(shared, 2, b"ST")
    model.truncate(6)
    assert model.check_read(b"ab" + (bytes(2) if eof3_zeroes else b"ST") + bytes(2)) is None
    model.store(shared, 6, b"UV")
    model.pwrite(10, b"w")
    assert model.check_read(b"ab" + (bytes(2) if eof3_zeroes else b"ST") + bytes(6) + b"w") is None  # EOF-7
    wrong = b"ab" + (bytes(2) if eof3_zeroes else b"ST") + bytes(2) + b"UV" + bytes(2) + b"w"
    assert model.check_read(wrong).claim == "EOF-7"


def test_private_page_follows_the_file_until_written_then_keeps_its_copy():
    model = Model(page=P)
    model.initial(b"a" * P)
    private = model.mmap("self", False, 0, 1)
    model.pwrite(0, b"b")  # PRIV-4 ("seen")
    assert view_bytes(model, private, 0)[:2] == b"ba"
    model.store(private, 1, b"p")
    model.pwrite(2, b"c")  # PRIV-5: the copy does not see it
    assert view_bytes(model, private, 0)[:3] == b"bpa"
    assert model.check_read(b"bac" + b"a" * (P - 3)) is None  # PRIV-1
    assert model.check_view(private, 0, b"bac" + b"a" * (P - 3)).claim == "PRIV-5"
    model.dontneed(private, 0, 1)  # PRIV-6 ("file-contents")
    assert view_bytes(model, private, 0)[:3] == b"bac"


def test_fork_child_inherits_private_copies_and_its_stores_stay_its_own():
    model = Model(page=P)
    model.initial(b"a" * P)
    private = model.mmap("self", False, 0, 1)
    model.store(private, 0, b"p")
    child = model.fork()[private]
    assert view_bytes(model, child, 0)[:1] == b"p"  # FORK-4
    model.store(child, 1, b"c")
    assert view_bytes(model, child, 0)[:2] == b"pc" and view_bytes(model, private, 0)[:2] == b"pa"  # FORK-3
    assert model.check_view(child, 0, b"p" + b"a" * (P - 1)).claim == "FORK-3"
    model.end_fork()
    assert model.live("child") == []


def test_a_fork_childs_mapping_shares_no_mutable_state_with_its_parents():
    model = Model(page=P)
    model.initial(b"a" * 2 * P)
    private = model.mmap("self", False, 0, 2)
    model.store(private, 0, b"p")
    model.truncate(P)  # fills cut_pages
    parent = model.maps[private]
    child = model.maps[model.fork()[private]]
    for field in dataclasses.fields(parent):
        value = getattr(parent, field.name)
        if isinstance(value, (list, dict, set, bytearray)):
            assert getattr(child, field.name) is not value, field.name
    assert parent.cut_pages and child.cut_pages == parent.cut_pages
    assert child.copies[0] is not parent.copies[0] and child.copies[0].data is not parent.copies[0].data
    assert bytes(child.copies[0].data) == bytes(parent.copies[0].data)


def test_platform_alternatives_the_model_does_not_encode_are_named():
    assert Platform().unsupported() is None
    assert "bus5_copied" in Platform(bus5_copied="private-copy").unsupported()


def test_platform_comes_from_the_expectations(tmp_path):
    platform, taken = platform_for(("ext4",))
    assert platform is not None and taken["BUS-5/copied"] == platform.bus5_copied
    tmpfs = expectation_for(EXPECTATIONS_DIR, "EOF-3", host_identity()["os"], host_identity()["kernel_release"], ("tmpfs",))
    assert platform_for(("tmpfs",))[0].eof3_zeroes == (tmpfs is None or tmpfs.verdict != "refuted")
    none, why = platform_for(("ext4",), tmp_path)  # no expectation files: no alternative is known
    assert none is None and "BUS-5/untouched" in why["unsupported"]


def test_filesystem_entry_with_several_alternatives_takes_the_one_every_filesystem_agrees_on(tmp_path):
    general = ('[[expect]]\nclaim = "{claim}"\nverdict = "observed"\nalternatives = [{alternatives}]\nos = "Linux"\n'
               '{fs}reason = "r"\nreference = "x"\n\n')
    entries = [("BUS-5/untouched", '"sigbus"', ""), ("BUS-5/copied", '"sigbus"', ""), ("PRIV-4/read", '"seen"', ""),
               ("PRIV-4/untouched", '"seen"', ""), ("PRIV-6", '"file-contents"', ""), ("SHARED-4", '"seen"', ""),
               ("SYNC-7/no-sync-flag", '"einval"', ""), ("PAGE-4/conventional", '"accepted"', ""),
               ("BUS-5/untouched", '"old-contents", "sigbus"', 'fs = ["overlayfs"]\n'),
               ("BUS-5/copied", '"private-copy"', 'fs = ["xfs"]\n')]
    (tmp_path / "x.toml").write_text("".join(general.format(claim=c, alternatives=a, fs=f) for c, a, f in entries))
    platform, taken = platform_for(("overlayfs", "overlay-ext4"), tmp_path)
    assert taken["BUS-5/untouched"] == "sigbus"
    assert platform_for(("xfs",), tmp_path)[1]["BUS-5/copied"] == "private-copy"


def test_every_claim_the_model_names_is_in_the_catalog_and_in_what_model_1_derives_from():
    cat = catalog()
    claim = cat["MODEL-1"]
    assert all(blamed in cat for blamed in reference.BLAMED)
    assert {blamed.split("/")[0] for blamed in reference.BLAMED} == set(claim.derived_from)
    assert set(claim.inventory) <= set(claim.derived_from)


# -- seeded faults, against a real file ---------------------------------------------------------------


class ForgetsEofZeroing(Model):
    """Fault: ftruncate() down leaves the old bytes past the new EOF in its page (BUS-3 says zeros)."""

    def _shrink(self, new: int) -> None:
        old = bytes(self.cache.data[new:self._end(new)])
        super()._shrink(new)
        self.cache.data[new:new + len(old)] = old


class PrivateWritesReachFile(Model):
    """Fault: a store through a MAP_PRIVATE mapping also changes the file (PRIV-1 says never)."""

    def store(self, map_id: int, at: int, data: bytes) -> None:
        super().store(map_id, at, data)
        m = self.maps[map_id]
        start = m.first_page * self.page + at
        inside = min(len(data), max(self.size - start, 0))
        if not m.shared and inside:
            self.cache.put(start, data[:inside], origin(STORE, m.holder))


class IgnoresTruncationSigbus(Model):
    """Fault: pages a truncation cut off stay accessible, reading zero (BUS-2/BUS-5 say SIGBUS)."""

    def view(self, map_id: int, index: int):
        got = super().view(map_id, index)
        m = self.maps[map_id]
        if got is INACCESSIBLE and m.first_page + index in m.cut_pages:
            return Image.filled(self.page, origin(TRUNC_ZERO, "self"))
        return got


class EofZeroingForgotten(ModelMachine):
    model_class = ForgetsEofZeroing


class PrivateWritesLeak(ModelMachine):
    model_class = PrivateWritesReachFile


class TruncationSigbusIgnored(ModelMachine):
    model_class = IgnoresTruncationSigbus


# A small, derandomized budget: the same sequences on every run.
SEEDED = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
# The start step included. Hypothesis's shrinker leaves a few no-op steps in these sequences (e.g. truncate to
# the size the file has): 6 and 9 steps for two of the seeded faults since examples no longer depend on which
# modules are loaded (harness/profiles.py). Short enough to read; the steps it could not remove are a known gap.
MAX_STEPS = 10


@pytest.fixture
def real_target(tmp_path):
    fs_type = fs_identity(str(tmp_path)).type
    host = host_identity()
    if expectation_for(EXPECTATIONS_DIR, "MODEL-1", host["os"], host["kernel_release"], (fs_type,)):
        pytest.skip(f"the unfaulted model already finds a recorded inconsistency on {fs_type}")
    platform, taken = platform_for((fs_type,))
    if platform is None:
        pytest.skip(taken["unsupported"])
    return tmp_path, platform


def in_this_process(scenario_fn, *args):
    """Stands in for the claim test's scenario server (conformance.observe): the faulted machines are classes of
    this module."""
    return scenario_fn(*args)


def run(machine: type[ModelMachine], target) -> scenario.SequencesSeen:
    directory, platform = target
    case = scenario.SequenceRun(fs_identity(str(directory)).type, SEEDED.max_examples, 20, {}, libc.PAGE_SIZE)
    return run_sequences(in_this_process, Workspace(directory), case, platform, str(directory), machine, SEEDED)


def test_unfaulted_model_holds_with_the_same_budget(real_target):
    seen = run(ModelMachine, real_target)
    assert seen.claim is None and seen.steps > 0, seen.detail
    assert scenario.judge_sequences_consistent(None, seen).verdict == "holds"


@pytest.mark.parametrize("machine, claims", [
    (EofZeroingForgotten, {"BUS-3", "EOF-1"}),
    (PrivateWritesLeak, {"PRIV-1", "SYNC-10"}),
    (TruncationSigbusIgnored, {"BUS-2", "BUS-5/untouched", "BUS-5/copied"}),
], ids=["forgets-eof-zeroing", "private-writes-reach-file", "ignores-truncation-sigbus"])
def test_machine_catches_a_seeded_fault_with_a_short_runnable_reproduction(real_target, machine, claims):
    seen = run(machine, real_target)
    assert seen.claim in claims, (seen.claim, seen.detail)
    assert seen.reproduced
    assert 2 <= steps_in(seen.reproduction) <= MAX_STEPS, seen.reproduction
    finding = scenario.judge_sequences_consistent(None, seen)
    assert finding.verdict == "refuted" and finding.detail.startswith(seen.claim) and seen.reproduction in finding.detail
    # The printed reproduction runs on its own and fails the same way.
    replay = subprocess.run([sys.executable, "-"], input=seen.reproduction, cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert replay.returncode != 0 and f"ModelDiscrepancy: {seen.claim}:" in replay.stderr, replay.stderr
    assert not [p for p in real_target[0].iterdir() if p.name.startswith(".mmapconf-model-")]  # it cleaned up


class FailsOnlyOnce(ModelMachine):
    """A kernel that misbehaves once: the first sequence's start breaks the model, and no sequence after it."""

    failed = False

    def start(self, size, fill):
        super().start(size, fill)
        if not FailsOnlyOnce.failed:
            FailsOnlyOnce.failed = True
            raise ModelDiscrepancy("EOF-1", "seeded: only the first time")


def test_a_failure_that_does_not_happen_again_is_still_reported_as_not_reproduced(real_target):
    seen = run(FailsOnlyOnce, real_target)
    assert (seen.claim, seen.reproduced) == ("EOF-1", False)
    assert steps_in(seen.reproduction) == 1 and "state.start(" in seen.reproduction
    finding = scenario.judge_sequences_consistent(None, seen)
    assert finding.verdict == "refuted" and "it did not happen again when the sequence was replayed" in finding.detail


# -- a sequence as words -----------------------------------------------------------------------------


def logged_rules(seen: scenario.ProgramSeen) -> list[str]:
    return [line.split("(")[0].removeprefix("state.") for line in seen.log]


def test_a_word_is_one_step_word_zero_none_and_the_same_words_the_same_steps(real_target):
    directory, platform = real_target
    words = (0, 12345678901234567, 0, 2**64 - 1, 987654321, 0)
    first = scenario.run_program(Workspace(directory), platform, libc.PAGE_SIZE, 42, words)
    again = scenario.run_program(Workspace(directory), platform, libc.PAGE_SIZE, 42, words)
    assert first.claim is None, first.detail
    assert first.steps == len(first.log) == 1 + 3  # the start, then one step per non-zero word
    assert first.log == again.log


def test_a_header_can_leave_out_rules_and_every_rule_runs_in_a_profiles_sequences(real_target):
    directory, platform = real_target
    only_truncate = sum(1 << index for index, rule in enumerate(machine_module.RULES) if rule.name != "truncate")
    words = tuple(range(1, 41))
    seen = scenario.run_program(Workspace(directory), platform, libc.PAGE_SIZE, only_truncate, words)
    assert logged_rules(seen) == ["start"] + ["truncate"] * 40

    ran: set[str] = set()

    @SEEDED
    @given(sequences.programs(80))
    def collect(program):
        header, words = program
        ran.update(logged_rules(scenario.run_program(Workspace(directory), platform, libc.PAGE_SIZE, header,
                                                     tuple(words))))

    collect()
    assert ran == {"start"} | {rule.name for rule in machine_module.RULES}


# -- the second process's pages ----------------------------------------------------------------------


class SecondProcessStoresUnseen(ModelMachine):
    """A model that misses what the second process stores through its own mappings."""

    def _store(self, map_id, anchor, delta, length, fill, in_child=False):
        if self.model.maps[map_id].holder != "other":
            return super()._store(map_id, anchor, delta, length, fill, in_child)
        at, data = self._target(map_id, anchor, delta, length, fill)
        assert self._other_call(machine_module.checked_store, self.addrs[map_id] + at, data)
        self._check()


def _calls_to_the_second_process(monkeypatch) -> list[str]:
    """The names of the functions the machine has its second process run, from now on."""
    called: list[str] = []
    real_call = machine_module.Child.call

    def call(child, fn, *args):
        called.append(fn.__name__)
        return real_call(child, fn, *args)

    monkeypatch.setattr(machine_module.Child, "call", call)
    return called


@pytest.mark.parametrize("reads_itself", [True, False], ids=["through-proc-pid-mem", "asked"])
def test_the_second_process_pages_are_checked_whether_this_process_reads_them_or_asks(real_target, monkeypatch,
                                                                                        reads_itself):
    directory, platform = real_target
    if not reads_itself:  # as where ptrace rules refuse /proc/PID/mem
        monkeypatch.setattr(procmem, "open_other", lambda pid: False)
    called = _calls_to_the_second_process(monkeypatch)
    for machine, broken in ((ModelMachine, False), (SecondProcessStoresUnseen, True)):
        state = machine(workspace=Workspace(directory), platform=platform)
        try:
            state.start(size=libc.PAGE_SIZE, fill=5)
            state.other_mmap(shared=False, page=0, pages=1, trim=0)  # private: the file never shows the store
            assert state._other_readable == reads_itself
            if broken:
                with pytest.raises(ModelDiscrepancy, match="m0 \\(MAP_PRIVATE in the second process.*page 0"):
                    state.other_store(which=0, anchor="start", delta=3, length=8, fill=9)
            else:
                state.other_store(which=0, anchor="start", delta=3, length=8, fill=9)
        finally:
            state.teardown()
    assert ("read_runs" in called) == (not reads_itself), called


def test_proc_pid_mem_reads_a_childs_own_copy_and_fails_past_eof_instead_of_signalling(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * (libc.PAGE_SIZE + 1))
    fd = os.open(path, os.O_RDWR)
    try:
        with libc.Mapping.map(3 * libc.PAGE_SIZE, libc.PROT_READ | libc.PROT_WRITE, libc.MAP_PRIVATE, fd) as mapping:
            with Child() as child:
                assert child.call(libc.write_bytes, mapping.addr, b"child").ok
                assert procmem.open_other(child.pid)
                pages = procmem.read_pages(mapping.addr, 3, libc.PAGE_SIZE, child.pid)
                assert pages[0] == b"child" + b"x" * (libc.PAGE_SIZE - 5)
                assert pages[1] == b"x" + bytes(libc.PAGE_SIZE - 1)
                assert pages[2] is None
            assert procmem.read_pages(mapping.addr, 1, libc.PAGE_SIZE) == [b"x" * libc.PAGE_SIZE]
    finally:
        procmem.close()
        os.close(fd)


# -- reading memory without signals -----------------------------------------------------------------


def test_proc_self_mem_reads_fail_on_pages_past_eof_instead_of_signalling(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * (libc.PAGE_SIZE + 1))
    fd = os.open(path, os.O_RDWR)
    try:
        for flags in (libc.MAP_SHARED, libc.MAP_PRIVATE):
            with libc.Mapping.map(3 * libc.PAGE_SIZE, libc.PROT_READ | libc.PROT_WRITE, flags, fd) as mapping:
                pages = procmem.read_pages(mapping.addr, 3, libc.PAGE_SIZE)
                assert pages[0] == b"x" * libc.PAGE_SIZE
                assert pages[1] == b"x" + bytes(libc.PAGE_SIZE - 1)
                assert pages[2] is None
                assert procmem.readable(mapping.addr, 2 * libc.PAGE_SIZE)
                assert not procmem.readable(mapping.addr + libc.PAGE_SIZE, libc.PAGE_SIZE + 1)
    finally:
        os.close(fd)
