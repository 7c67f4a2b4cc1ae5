"""The child probe runner reports how a child ended: value, exception, exit, signal, timeout."""

from __future__ import annotations

import errno
import os
import signal
import time

import pytest

from fixtures import libc
from fixtures.outcome import SetUpFailed
from fixtures.probe import Child, ChildGone, probe, probe_each
from suite.scenarios.address_space import fenced_hole, release_fence


def _raise_oserror():
    raise FileNotFoundError(2, "gone")


def _exit_with(code):
    os._exit(code)


def _kill_self(signum):
    os.kill(os.getpid(), signum)


def _refused_mmap():
    raise libc.SysError("mmap", errno.EINVAL)


def _set_up_failing_in_a_grandchild():
    probe(_refused_mmap).value_or_raise("set-up mmap")


def _counter_add(n, _state=[0]):
    _state[0] += n
    return _state[0]


def test_returned_value():
    outcome = probe(divmod, 7, 2)
    assert (outcome.kind, outcome.value) == ("returned", (3, 1))


def test_a_failed_libc_call_is_matched_by_errno_and_call():
    outcome = probe(_refused_mmap)
    assert outcome.failed_with(errno.EINVAL, call="mmap") and not outcome.failed_with(errno.EINVAL, call="munmap")
    assert not outcome.ok and not outcome.killed_by(signal.SIGBUS) and outcome.errno_name == "EINVAL"
    assert not outcome.ended_by_exit and probe(_exit_with, 3).ended_by_exit


def test_value_or_raise_returns_the_value_or_raises_set_up_failed_carrying_the_outcome():
    assert probe(divmod, 7, 2).value_or_raise("set-up divmod") == (3, 1)
    with pytest.raises(SetUpFailed, match=r"^set-up mmap failed: raised .*EINVAL") as failed:
        probe(_refused_mmap).value_or_raise("set-up mmap")
    assert failed.value.outcome.failed_with(errno.EINVAL, call="mmap")


def test_a_set_up_failure_inside_a_child_stays_typed():
    assert probe(_set_up_failing_in_a_grandchild).failed_with(errno.EINVAL, call="mmap")


def test_raised_exception_with_errno():
    outcome = probe(_raise_oserror)
    assert outcome.kind == "raised" and outcome.errno == 2 and "FileNotFoundError" in outcome.error


def test_exit_code():
    outcome = probe(_exit_with, 3)
    assert (outcome.kind, outcome.exit_code) == ("exited", 3)


def test_sigbus_from_page_beyond_eof(tmp_path):
    path = tmp_path / "empty"
    path.write_bytes(b"")
    fd = os.open(path, os.O_RDONLY)
    try:
        mapping = libc.Mapping.map(libc.PAGE_SIZE, libc.PROT_READ, libc.MAP_SHARED, fd)
    finally:
        os.close(fd)
    with mapping:
        outcome = probe(libc.read_bytes, mapping.addr, 1)
    assert (outcome.kind, outcome.signal_name) == ("signalled", "SIGBUS")


def test_sigsegv_from_unmapped_address():
    hole = fenced_hole(1, libc.PAGE_SIZE)
    try:
        outcome = probe(libc.read_bytes, hole, 1)
    finally:
        release_fence(hole, 1, libc.PAGE_SIZE)
    assert (outcome.kind, outcome.signal_name) == ("signalled", "SIGSEGV")


def test_sigsegv_from_store_to_read_only_page():
    with libc.Mapping.map(libc.PAGE_SIZE, libc.PROT_READ, libc.MAP_PRIVATE | libc.MAP_ANONYMOUS) as mapping:
        outcome = probe(libc.write_bytes, mapping.addr, b"x")
    assert outcome.signal_name == "SIGSEGV"


def test_other_signal():
    assert probe(_kill_self, signal.SIGUSR1).signal_name == "SIGUSR1"


def test_timeout_kills_the_child():
    started = time.monotonic()
    outcome = probe(time.sleep, 30, timeout=0.3)
    assert outcome.kind == "timeout"
    assert time.monotonic() - started < 10


def test_child_keeps_state_between_calls():
    with Child() as child:
        assert child.call(_counter_add, 2).value == 2
        assert child.call(_counter_add, 3).value == 5
        assert child.call(os.getppid).value == os.getpid()
    assert _counter_add(0) == 0  # the parent's copy never changed


def test_call_after_fatal_outcome_is_an_error():
    with Child() as child:
        assert child.call(_exit_with, 0).kind == "exited"
        with pytest.raises(ChildGone):
            child.call(os.getpid)


def test_child_sees_and_shares_parent_mapping():
    with libc.Mapping.map(libc.PAGE_SIZE, libc.PROT_READ | libc.PROT_WRITE, libc.MAP_SHARED | libc.MAP_ANONYMOUS) as mapping:
        mapping.view[0] = 42
        assert probe(libc.read_bytes, mapping.addr, 1).value == b"\x2a"
        probe(libc.write_bytes, mapping.addr, b"\x07")
        assert mapping.view[0] == 7


def test_a_child_call_must_be_picklable_and_says_so_while_probe_inherits_any_call():
    with Child() as child, pytest.raises(TypeError, match="module-level"):
        child.call(lambda: 1)
    assert probe(lambda: 1).value == 1  # nothing is sent: the forked child has the call already
    assert "unpicklable result" in probe(lambda: lambda: 1).error


def _open_files() -> set[str]:
    """What this process's descriptors refer to (``pipe:[inode]`` for a pipe's end)."""
    return {os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
            if os.path.exists(f"/proc/self/fd/{fd}")}


def _pipe(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")


def test_a_probe_child_holds_no_pipe_end_of_a_live_child():
    """Else a Child that dies while a probe child lives would not be seen to (end of file never comes)."""
    with Child() as child:
        ends = {_pipe(child._requests), _pipe(child._replies)}
        assert not ends & probe(_open_files).value


def _probe_end_and_what_a_child_holds() -> tuple[str, set[str]]:
    from fixtures import probe as module

    with Child() as grandchild:
        return _pipe(module._probe_end), grandchild.call(_open_files).value


def test_a_probe_childs_own_children_do_not_hold_the_end_that_says_it_has_gone():
    """Else a probe whose child left a process behind would wait for that process too."""
    end, held = probe(_probe_end_and_what_a_child_holds).value
    assert end.startswith("pipe:") and end not in held


def test_a_reply_larger_than_a_pipe_holds_comes_back_whole():
    assert probe(bytes, 4 << 20).value == bytes(4 << 20)


def test_no_child_left_behind():
    for fn, args in [(os.getpid, ()), (_exit_with, (1,)), (_kill_self, (signal.SIGKILL,)), (time.sleep, (30,))]:
        probe(fn, *args, timeout=0.3)
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


def test_child_has_core_dumps_and_faulthandler_off_and_default_signal_dispositions():
    import faulthandler
    import resource

    assert probe(resource.getrlimit, resource.RLIMIT_CORE).value == (0, 0)
    assert probe(faulthandler.is_enabled).value is False
    previous = signal.signal(signal.SIGINT, lambda *_: None)
    try:
        for signum in (signal.SIGBUS, signal.SIGSEGV, signal.SIGINT, signal.SIGTERM):
            assert probe(signal.getsignal, signum).value == signal.SIG_DFL
    finally:
        signal.signal(signal.SIGINT, previous)


def _touch(addr):
    return libc.read_bytes(addr, 1) if addr else None


def test_probe_each_pins_each_crash_to_its_item():
    with libc.Mapping.map(libc.PAGE_SIZE, libc.PROT_READ, libc.MAP_PRIVATE | libc.MAP_ANONYMOUS) as mapping:
        hole = fenced_hole(1, libc.PAGE_SIZE)
        try:
            outcomes = probe_each(_touch, [mapping.addr, hole, 0, hole, mapping.addr])
        finally:
            release_fence(hole, 1, libc.PAGE_SIZE)
    assert [o.kind for o in outcomes] == ["returned", "signalled", "returned", "signalled", "returned"]
    assert outcomes[1].signal_name == outcomes[3].signal_name == "SIGSEGV"


def test_older_child_leaves_while_a_younger_one_lives():
    started = time.monotonic()
    with Child(timeout=20) as younger_holder:
        older = Child(timeout=20)
        with Child(timeout=20) as younger:
            assert older.call(os.getpid).kind == "returned"
            older.close()  # must not wait for the younger child to let go of the older one's pipes
            assert older.ended.kind == "exited" and older.ended.exit_code == 0
            assert younger.call(os.getpid).kind == "returned"
        assert younger_holder.call(os.getpid).kind == "returned"
    assert time.monotonic() - started < 10


def test_older_child_death_seen_while_a_younger_one_lives():
    with Child(timeout=20) as older, Child(timeout=20) as younger:
        assert older.call(_kill_self, signal.SIGBUS).signal_name == "SIGBUS"
        assert younger.call(os.getpid).kind == "returned"
