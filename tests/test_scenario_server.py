"""The scenario server runs a scenario in a lean process and hands back its observation, or what it raised, as it
was raised; a server that dies or hangs is an error, never a hang; nothing of it outlives the run."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fixtures import libc, scenario_server
from fixtures.files import Rejected, Workspace
from fixtures.outcome import SetUpFailed, signalled
from fixtures.scenario_server import ScenarioServerError, ServerTraceback, Zygote


@pytest.fixture
def zygote():
    zygote = Zygote()
    yield zygote
    zygote.close()


@pytest.fixture
def server(zygote):
    server = zygote.server()
    yield server
    server.close()


def _gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists():
            return True
        time.sleep(0.01)
    return False


def test_a_scenario_runs_in_the_server_not_in_the_test(server):
    assert server.observe(os.getpid) == server.pid != os.getpid()


def test_the_server_imports_neither_pytest_nor_hypothesis(server):
    loaded = server.observe(eval, "sorted(__import__('sys').modules)")  # evaluated there, not pickled here
    assert "fixtures.libc" in loaded and "suite.scenarios.eof" in loaded
    assert not [name for name in loaded if name.split(".")[0] in ("pytest", "_pytest", "hypothesis")]


def test_the_server_imports_no_stdlib_module_it_does_not_need(server):
    """Each extension module (and the libraries it loads: libz, libbz2, liblzma) makes every fork there dearer:
    these came in through ctypes.util, shutil and tempfile before, hashlib (libcrypto) and the catalog (tomllib,
    argparse) through two scenarios. threading (which subprocess imports) registers an after-fork handler that runs
    in every fork child: Python code that copies about 170 pages on write."""
    loaded = server.observe(eval, "sorted(__import__('sys').modules)")
    assert not set(loaded) & {"ctypes.util", "shutil", "tempfile", "random", "zlib", "bz2", "lzma", "threading",
                              "subprocess", "hashlib", "tomllib", "argparse", "harness.catalog"}


def test_the_server_maps_fewer_areas_than_the_pytest_process(server):
    """What makes its forks cheaper (figures: benchmarks/phases.py)."""
    def areas(text: str) -> int:
        return len(text.splitlines())
    assert areas(server.observe(Path.read_text, Path("/proc/self/maps"))) < areas(Path("/proc/self/maps").read_text())


def test_nothing_from_the_current_directory_or_the_environment_is_imported(tmp_path, monkeypatch):
    """The current directory may be a target anyone can write to: the zygote runs isolated (-I)."""
    (tmp_path / "fixtures").mkdir()
    (tmp_path / "fixtures" / "__init__.py").write_text("raise SystemExit('imported from the current directory')\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    zygote = Zygote()
    try:
        server = zygote.server()
        path = server.observe(eval, "__import__('sys').path")
        server.close()
    finally:
        zygote.close()
    assert path[0] == str(scenario_server.ROOT)
    assert str(tmp_path) not in path and "" not in path


def test_a_workspace_rejects_in_the_server_by_raising_rejected(server, tmp_path):
    image = Workspace(tmp_path, {"read_only": True, "name": "squashfs"}, reject=pytest.fail)
    with pytest.raises(Rejected, match=r"read-only filesystem \(squashfs\): its image has no file of 5 bytes"):
        server.observe(image.new_file, 5, b"hello")


def _keep_a_periodic_file(workspace: Workspace) -> list[str]:
    with workspace.periodic_file(3 * libc.PAGE_SIZE, b"kept"):
        pass
    return os.listdir(workspace.run_dir)


def test_the_files_a_server_kept_between_examples_go_when_it_ends(zygote, tmp_path):
    server = zygote.server()
    assert len(server.observe(_keep_a_periodic_file, Workspace(tmp_path))) == 1
    server.close()
    assert _gone(server.pid) and list(tmp_path.iterdir()) == []


def test_an_oserror_arrives_with_its_type_and_errno_and_the_servers_traceback(server, tmp_path):
    with pytest.raises(FileNotFoundError) as raised:
        server.observe(os.open, str(tmp_path / "absent"), os.O_RDONLY)
    assert raised.value.errno == errno.ENOENT
    assert isinstance(raised.value.__cause__, ServerTraceback)
    assert "FileNotFoundError" in str(raised.value.__cause__)


def test_a_libc_error_arrives_naming_its_call(server):
    with pytest.raises(libc.SysError) as raised:
        server.observe(libc.checked, "munmap", libc.CallResult(None, errno.EINVAL))
    assert (raised.value.call, raised.value.errno) == ("munmap", errno.EINVAL)


def test_a_failed_set_up_step_arrives_with_its_outcome(server):
    with pytest.raises(SetUpFailed) as raised:
        server.observe(signalled(signal.SIGBUS).value_or_raise, "set-up store")
    assert raised.value.outcome == signalled(signal.SIGBUS)


def test_an_exception_that_cannot_cross_arrives_as_its_text(server):
    with pytest.raises(ScenarioServerError, match=r"BufferError"):
        server.observe(_unpicklable_error)


def test_a_server_that_dies_is_an_error_and_stays_dead(server):
    with pytest.raises(ScenarioServerError, match=r"ended during kill"):
        server.observe(os.kill, server.pid, signal.SIGKILL)
    with pytest.raises(ScenarioServerError, match=r"ended during kill"):
        server.observe(os.getpid)


def test_a_server_that_hangs_is_killed_at_its_timeout(server):
    started = time.monotonic()
    with pytest.raises(ScenarioServerError, match=r"did not finish sleep in 0.5 s and was killed"):
        server.observe(time.sleep, 60, timeout=0.5)
    assert time.monotonic() - started < 30
    assert _gone(server.pid)


def test_closing_ends_the_server_and_the_zygote(zygote):
    server = zygote.server()
    pid = server.observe(os.getpid)
    server.close()
    assert _gone(pid)
    zygote.close()
    assert zygote.process.returncode == 0


def test_the_zygote_ends_with_the_process_that_started_it(tmp_path):
    """A pytest process killed outright (SIGKILL) leaves neither the zygote nor a server behind."""
    code = ("import os, sys; sys.path.insert(0, sys.argv[1]); from fixtures.scenario_server import Zygote; "
            "z = Zygote(); s = z.server(); print(z.process.pid, s.pid, flush=True); "
            "os.kill(os.getpid(), 9)")
    result = subprocess.run([sys.executable, "-c", code, str(scenario_server.ROOT)],
                                          capture_output=True, text=True, timeout=60)
    zygote_pid, server_pid = map(int, result.stdout.split())
    assert _gone(zygote_pid) and _gone(server_pid)


def _unpicklable_error():
    error = BufferError("a local cannot be pickled")
    error.handle = lambda: None  # an attribute pickle cannot carry
    raise error


def test_a_zygote_that_has_ended_makes_no_server_and_says_so(zygote):
    zygote.process.kill()
    zygote.process.wait()
    with pytest.raises(ScenarioServerError, match=r"made no scenario server: it has ended"):
        zygote.server()
