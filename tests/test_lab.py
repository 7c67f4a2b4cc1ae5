"""Lab machines (./mmapconf lab): the suite over SSH on several machines, one matrix. The machines are sshd
processes the tests start on 127.0.0.1, each with its own configuration, host key, the tests' authorized key and its
own TMPDIR (where the agent makes its directory); the client uses the tests' key and known_hosts, never ~/.ssh.
Without sshd (Debian: openssh-server) the tests that need it skip."""

from __future__ import annotations

import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fixtures import apt
from harness.profiles import PROFILES
from lab.command_line import PROFILES as LAB_PROFILES
from lab.command_line import Machine, UsageError, parse, parse_machine

ROOT = Path(__file__).resolve().parents[1]
SSHD = Path("/usr/sbin/sshd")
PRIVSEP_DIR = Path("/run/sshd")  # sshd running as root refuses to start without it


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_lab(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(ROOT / "mmapconf"), "lab", *args], capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, PYTHON=sys.executable))


def lab_processes(machines: Machines) -> list[str]:
    """Command lines with a directory of these machines' agents in them (its suite's --report): a suite still
    running."""
    agent_dirs = [f"{tmpdir}/mmapconf-lab-" for tmpdir in machines.tmpdirs]
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if any(d in cmdline for d in agent_dirs) and entry.name != str(os.getpid()):
            found.append(cmdline.replace("\0", " "))
    return found


class Machines:
    """Two sshd processes on loopback and the client configuration that reaches them."""

    def __init__(self, root: Path):
        self.root = root
        self.ports: list[int] = []
        self.processes: list[subprocess.Popen] = []
        self.tmpdirs: list[Path] = []
        key = root / "client_key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / "host_key")], check=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        shutil.copy(root / "client_key.pub", root / "authorized_keys")
        self.ssh_config = root / "ssh_config"
        self.ssh_config.write_text(
            f"Host *\n  User {getpass.getuser()}\n  IdentityFile {key}\n  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {root / 'known_hosts'}\n  GlobalKnownHostsFile /dev/null\n"
            "  StrictHostKeyChecking yes\n")

    def start(self, count: int) -> None:
        host_key = (self.root / "host_key.pub").read_text().split()
        for n in range(count):
            port, tmpdir = free_port(), self.root / f"remote-tmp-{n}"
            tmpdir.mkdir()
            config = self.root / f"sshd_config-{n}"
            config.write_text("\n".join([
                "ListenAddress 127.0.0.1", f"Port {port}", f"HostKey {self.root / 'host_key'}",
                f"PidFile {self.root / f'sshd-{n}.pid'}", f"AuthorizedKeysFile {self.root / 'authorized_keys'}",
                "StrictModes no", "UsePAM no", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
                "PermitRootLogin prohibit-password", f"SetEnv TMPDIR={tmpdir}", ""]))
            log = (self.root / f"sshd-{n}.log").open("w")
            self.processes.append(subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)], stdout=log, stderr=log))
            with (self.root / "known_hosts").open("a") as known:
                known.write(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
            self.ports.append(port)
            self.tmpdirs.append(tmpdir)
        for port, process in zip(self.ports, self.processes):
            deadline = time.monotonic() + 20
            while True:
                assert process.poll() is None, (self.root / "sshd-0.log").read_text()
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    assert time.monotonic() < deadline, f"sshd on port {port} did not listen"
                    time.sleep(0.05)

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def machines(tmp_path_factory):
    if not shutil.which(str(SSHD)):
        pytest.skip(f"no sshd to stand in for lab machines ({apt.install_command(['openssh-server'])} installs it)")
    if not (shutil.which("ssh") and shutil.which("ssh-keygen")):
        pytest.skip(f"no ssh client to reach the lab machines ({apt.install_command(['openssh-client'])} installs it)")
    made_privsep = os.geteuid() == 0 and not PRIVSEP_DIR.exists()
    if made_privsep:
        PRIVSEP_DIR.mkdir(mode=0o755)
    lab = Machines(tmp_path_factory.mktemp("lab"))
    try:
        lab.start(2)
        yield lab
    finally:
        lab.stop()
        if made_privsep:
            PRIVSEP_DIR.rmdir()
    assert [p.returncode for p in lab.processes if p.poll() is None] == []


def test_two_machines_give_one_matrix_with_two_columns(machines, tmp_path):
    targets = [tmp_path / "target-a", tmp_path / "target-b"]
    for target in targets:
        target.mkdir()
    specs = [f"127.0.0.1:{port}:{target}" for port, target in zip(machines.ports, targets)]
    out = tmp_path / "out"
    result = run_lab("--machine", specs[0], "--machine", specs[1], "-F", str(machines.ssh_config),
                     "--profile", "kernel-smoke", "--out", str(out), "--", "-k", "EOF-1 or OPEN-1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    matrix = json.loads((out / "matrix.json").read_text())
    labels = [f"127.0.0.1:{port}" for port in machines.ports]
    assert [(c["run"]["lab"]["machine"], c["target"], c["target_info"]["directory"]) for c in matrix["columns"]] == [
        (labels[0], f"{labels[0]}:target-a", str(targets[0])), (labels[1], f"{labels[1]}:target-b", str(targets[1]))]
    verdicts = {(c["claim"], c["column"]): c["verdict"] for c in matrix["results"] if c["verdict"] != "not run"}
    assert verdicts == {(claim, column["id"]): "holds" for claim in ("EOF-1", "OPEN-1") for column in matrix["columns"]}
    assert (out / "matrix.html").is_file() and "2 column(s)" in (out / "summary.md").read_text()
    # each suite ran from a directory its machine's agent made in that machine's TMPDIR, now removed
    for column, tmpdir in zip(matrix["columns"], machines.tmpdirs):
        report = column["run"]["argv"][column["run"]["argv"].index("--report") + 1]
        assert Path(report).parent.parent == tmpdir
    assert [list(t.iterdir()) for t in machines.tmpdirs] == [[], []]
    assert [list(t.iterdir()) for t in targets] == [[], []]
    assert lab_processes(machines) == []


def test_interrupted_run_stops_every_suite_and_removes_their_directories(machines, tmp_path):
    specs = [f"127.0.0.1:{port}:{tmp_path}" for port in machines.ports]
    runner = subprocess.Popen(
        [str(ROOT / "mmapconf"), "lab", "--machine", specs[0], "--machine", specs[1], "-F", str(machines.ssh_config),
         "--profile", "kernel-smoke", "--out", str(tmp_path / "out")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHON=sys.executable))
    try:
        running = set()
        for line in runner.stderr:
            if "] running the suite in " in line:
                running.add(line.split("]")[0])
            if len(running) == 2:
                break
        assert len(running) == 2, "the suites did not start"
        assert lab_processes(machines), "no agent's suite is running"
        runner.send_signal(signal.SIGTERM)
        stdout, stderr = runner.communicate(timeout=180)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
    assert runner.returncode == 130, stdout + stderr
    assert "interrupted (received signal 15): every suite stopped, no matrix written" in stderr
    assert "Traceback" not in stderr
    assert not (tmp_path / "out" / "matrix.json").exists()
    assert [list(t.iterdir()) for t in machines.tmpdirs] == [[], []]
    assert lab_processes(machines) == []


def test_machine_whose_suite_fails_is_an_error_column(machines, tmp_path):
    missing = tmp_path / "no-such-directory"
    out = tmp_path / "out"
    result = run_lab("--machine", f"127.0.0.1:{machines.ports[0]}:{missing}", "-F", str(machines.ssh_config),
                     "--profile", "kernel-smoke", "--out", str(out), "--", "-k", "EOF-1")
    assert result.returncode == 4, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    matrix = json.loads((out / "matrix.json").read_text())
    [column] = matrix["columns"]
    assert column["run"]["lab"]["stand_in"] and column["run"]["lab"]["status"] == "failed"
    assert {c["verdict"] for c in matrix["results"]} == {"error"}
    assert str(missing) in column["run"]["lab"]["reason"], column["run"]["lab"]["reason"]
    assert result.stdout.splitlines()[-1] == f"exit 4: machine(s) failed as a whole: 127.0.0.1:{machines.ports[0]} (failed)"
    assert list(machines.tmpdirs[0].iterdir()) == []


def test_unreachable_machine_is_one_line_and_no_column(tmp_path):
    port = free_port()  # nothing listens there
    result = run_lab("--machine", f"127.0.0.1:{port}:/srv/test", "--ssh-option", "UserKnownHostsFile=/dev/null",
                     "--out", str(tmp_path / "out"), timeout=120)
    assert result.returncode == 4, result.stdout + result.stderr
    assert result.stderr == ""
    assert result.stdout.splitlines() == [
        "machines:",
        f"  127.0.0.1:{port}:/srv/test  unreachable: ssh: connect to host 127.0.0.1 port {port}: Connection refused",
        f"exit 4: no machine gave a report (nothing to merge): 127.0.0.1:{port} (unreachable)"]
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("spec, machine", [
    ("board:/mnt/test", Machine(None, "board", None, "/mnt/test")),
    ("root@10.0.0.7:2222:/srv/test", Machine("root", "10.0.0.7", 2222, "/srv/test")),
    ("lab@[fe80::1]:22:/a:b", Machine("lab", "[fe80::1]", 22, "/a:b")),
])
def test_machine_spec(spec, machine):
    assert parse_machine(spec) == machine


def test_machine_label_and_destination():
    machine = parse_machine("lab@[fe80::1]:2222:/srv")
    assert (machine.label, machine.destination) == ("[fe80::1]:2222", "lab@fe80::1")


@pytest.mark.parametrize("argv, message", [
    ([], "give at least one --machine [USER@]HOST[:PORT]:DIR"),
    (["--machine", "board"], "--machine board: give [USER@]HOST[:PORT]:DIR, DIR an absolute path on the machine "
                             "(e.g. board:/mnt/test, root@10.0.0.7:2222:/srv/test)"),
    (["--machine", "board:relative/dir"], "--machine board:relative/dir: give [USER@]HOST[:PORT]:DIR, DIR an absolute "
                                          "path on the machine (e.g. board:/mnt/test, root@10.0.0.7:2222:/srv/test)"),
    (["--machine", "board:70000:/t"], "--machine board:70000:/t: port 70000 is not a TCP port"),
    (["--machine", "b:/t", "--machine", "b:/t"], "--machine b:/t is given twice"),
    (["--machine", "b:/t", "--", "--report=x.json"], "pytest option --report is set by the lab runner (use its own options)"),
    (["--machine", "b:/t", "--ssh-option", "BatchMode"], "--ssh-option BatchMode: give OPTION=VALUE, as ssh -o takes it"),
])
def test_bad_command_line_is_one_line(argv, message):
    with pytest.raises(UsageError) as raised:
        parse(argv)
    assert str(raised.value) == message


def test_unknown_profile_is_one_line():
    with pytest.raises(UsageError) as raised:
        parse(["--machine", "b:/t", "--profile", "fast"])
    assert str(raised.value).startswith("argument --profile: invalid choice: 'fast'")  # then the choices


def test_bad_command_line_through_the_script_exits_2():
    result = run_lab("--machine", "board")
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["python -m lab: --machine board: give [USER@]HOST[:PORT]:DIR, DIR an absolute "
                                          "path on the machine (e.g. board:/mnt/test, root@10.0.0.7:2222:/srv/test)"]


def test_profiles_are_the_harness_profiles():
    assert set(LAB_PROFILES) == set(PROFILES)
