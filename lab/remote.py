"""The lab runner's agent on a machine: python -m lab sends this file's text as ``python3 -I -c TEXT DIR [suite
options]`` (standard library only; nothing of the machine's directories is read or run but the bundle it unpacks).

It makes a private directory (mkdtemp: mode 0700, under $TMPDIR or /tmp), receives the bundle on standard input (a
line with its size in bytes, then the archive), unpacks it there and runs ``mmapconf suite --target-dir DIR
--report ...`` in a session of its own (with TMPDIR there too), relaying its output to standard error; then it writes the report to
standard output. Standard input stays open for the whole run: its end stops the suite, as do SIGHUP, SIGINT and
SIGTERM. It ends when the runner closes it, and when the connection drops (sshd gives a command without a terminal
no signal then, but closes its standard input). The suite is stopped with SIGTERM, on which it tears down what it
made and still writes its report. The directory is removed on every way out but SIGKILL.
"""

import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading

SAY = "mmapconf-lab: "  # the runner tells these lines from the suite's
STOP_GRACE_S = 60  # the suite unmounts what it provisioned before it ends
EXIT_FAILED, EXIT_STOPPED = 3, 130


class Failure(Exception):
    """The bundle cannot be received or unpacked; the message is one line."""


class Stopped(Exception):
    """Asked to stop before the suite started."""


def say(text):
    try:
        print(SAY + text, file=sys.stderr, flush=True)
    except OSError:  # the connection is gone; the cleanup goes on
        pass


def receive(work):
    """The bundle from standard input, unpacked in ``work``; the path of its mmapconf script."""
    stream = sys.stdin.buffer
    header = stream.readline()
    if not header.strip().isdigit():
        raise Failure(f"expected the bundle's size, got {header[:40]!r}")
    archive, left = os.path.join(work, "bundle.tar.gz"), int(header)
    with open(archive, "wb") as file:
        while left:
            chunk = stream.read(min(left, 1 << 16))
            if not chunk:
                raise Failure(f"the bundle arrived incomplete ({left} bytes missing)")
            file.write(chunk)
            left -= len(chunk)
    try:
        with tarfile.open(archive) as tar:
            tops = {name.split("/")[0] for name in tar.getnames()}
            if hasattr(tarfile, "data_filter"):  # Python 3.11.4 and later
                tar.extractall(work, filter="data")
            else:
                tar.extractall(work)
    except (tarfile.TarError, OSError) as error:
        raise Failure(f"cannot unpack the bundle: {error}") from None
    os.unlink(archive)
    if len(tops) != 1:
        raise Failure(f"the bundle has {len(tops)} top directories, not one")
    return os.path.join(work, tops.pop(), "mmapconf")


def relay(output):
    """The suite's output to standard error, line by line; after the connection dropped, to nowhere (the suite
    itself never sees a broken pipe, which would stop it before its teardown)."""
    for line in output:
        try:
            sys.stderr.buffer.write(line)
            sys.stderr.buffer.flush()
        except OSError:
            pass


def watch_input(stop):
    """Stop at the end of standard input: the runner closed it, or the connection dropped. Read from the descriptor,
    not sys.stdin.buffer: a daemon thread blocked holding that buffer's lock aborts the interpreter's exit."""
    try:
        while os.read(sys.stdin.fileno(), 1 << 12):
            pass
    except OSError:
        pass
    stop.set()


def stop_suite(suite):
    for sig, wait in ((signal.SIGTERM, STOP_GRACE_S), (signal.SIGKILL, None)):
        try:
            os.killpg(suite.pid, sig)
        except ProcessLookupError:
            pass
        try:
            suite.wait(wait)
            return
        except subprocess.TimeoutExpired:
            pass


def main():
    target, suite_options = sys.argv[1], sys.argv[2:]
    stop = threading.Event()
    suite = None

    def on_signal(signum, frame):
        stop.set()
        if suite is None:
            raise Stopped(f"signal {signum}")

    for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    work = tempfile.mkdtemp(prefix="mmapconf-lab-")
    status = EXIT_FAILED
    try:
        say(f"working in {work}")
        script = receive(work)
        report = os.path.join(work, "report.json")
        say("running the suite")
        suite = subprocess.Popen([script, "suite", "--target-dir", target, "--report", report, *suite_options],
                                 cwd=work, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 start_new_session=True,
                                 # TMPDIR: what pytest keeps in the temporary directory goes too
                                 env=dict(os.environ, PYTHON=sys.executable, TMPDIR=work))
        relaying = threading.Thread(target=relay, args=(suite.stdout,))
        relaying.start()
        threading.Thread(target=watch_input, args=(stop,), daemon=True).start()
        while suite.poll() is None:
            if stop.wait(0.5):
                say("stopping the suite")
                stop_suite(suite)
        relaying.join()
        status = suite.returncode
        if os.path.exists(report):
            with open(report, "rb") as file:
                shutil.copyfileobj(file, sys.stdout.buffer)
            sys.stdout.flush()
    except Failure as error:
        say(str(error))
    except Stopped:
        status = EXIT_STOPPED
    except OSError as error:  # the connection dropped while the report was sent
        say(f"cannot send the report: {error}")
    finally:
        if suite is not None and suite.poll() is None:
            stop_suite(suite)
        shutil.rmtree(work, ignore_errors=True)
        say(f"removed {work}" if not os.path.exists(work) else f"could not remove {work}")
    sys.exit(status)


if __name__ == "__main__":
    main()
