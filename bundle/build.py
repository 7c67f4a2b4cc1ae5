"""python -m bundle: one archive with the suite and its pinned packages, for machines without network or pip.

The archive holds the checkout's files (those git tracks or would track: the working tree as a commit would
take it), site-packages/<arch>-cp3XX/ for each architecture and CPython version asked for, site-packages/common/
(the pure-Python packages all of them share) and bundle-manifest.json. On the target, with only python3:

  tar xzf mmapconf-<commit>-<arch>.tar.gz && mmapconf-<commit>/mmapconf suite [pytest options]

  python -m bundle [--arch ARCH]... [--python X.Y]... [--output FILE] [--cache DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import io
import json
import os
import platform
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bundle import CHECKOUT, MANIFEST, SITE_PACKAGES, BuildError, sites

PROG = "python -m bundle"
# 0: the bundle is written; 2: a bad command line or an output that cannot be written; 3: the bundle cannot be
# built (no pip, a download failed, not a git checkout); 130: interrupted.
EXIT_OK, EXIT_USAGE, EXIT_BUILD, EXIT_INTERRUPTED = 0, 2, 3, 130


class UsageError(Exception):
    """A bad command line; the message is one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one clear line, not the usage block
        raise UsageError(message)


def parser() -> _Parser:
    p = _Parser(prog=PROG, description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", action="append", default=[], metavar="ARCH[,ARCH...]",
                   help=f"an architecture to carry packages for: {', '.join(sites.ARCHITECTURES)} (uname -m on the "
                        "target); repeatable (default: this machine's)")
    p.add_argument("--python", action="append", default=[], metavar="X.Y",
                   help=f"a CPython version to carry packages for; repeatable (default: {', '.join(sites.PYTHONS)}, "
                        "those the pins have wheels for)")
    p.add_argument("--output", type=Path, default=None, metavar="FILE",
                   help="the archive to write (default: dist/mmapconf-<commit>-<archs>.tar.gz in the checkout)")
    p.add_argument("--cache", type=Path, default=CHECKOUT / ".tox" / "bundle", metavar="DIR",
                   help="downloaded wheels, per requirements.txt and site (default: .tox/bundle in the checkout)")
    return p


@dataclass
class Options:
    sites: list[sites.Site]
    output: Path | None
    cache: Path


def parse(argv: list[str]) -> Options:
    args = parser().parse_args(argv)
    archs = [a.strip() for value in args.arch for a in value.split(",") if a.strip()]
    if not archs:
        host = platform.machine()
        if host not in sites.ARCHITECTURES:
            raise UsageError(f"this machine's architecture {host} is not one of {', '.join(sites.ARCHITECTURES)}: "
                             "give --arch")
        archs = [host]
    unknown = [a for a in archs if a not in sites.ARCHITECTURES]
    if unknown:
        raise UsageError(f"unknown architecture {', '.join(unknown)} (known: {', '.join(sites.ARCHITECTURES)})")
    pythons = args.python or list(sites.PYTHONS)
    for version in pythons:
        if not re.fullmatch(r"3\.\d+", version):
            raise UsageError(f"--python {version}: give a CPython version such as 3.11")
    return Options(sites=[sites.Site(a, v) for a in dict.fromkeys(archs) for v in dict.fromkeys(pythons)],
                   output=args.output, cache=args.cache.resolve())


@dataclass
class Checkout:
    files: list[str]
    commit: str
    dirty: bool

    @property
    def name(self) -> str:
        """The bundle's top directory: the commit, marked when the working tree differs from it."""
        return f"mmapconf-{self.commit}{'-dirty' if self.dirty else ''}"


def checkout() -> Checkout:
    """The files a commit of the working tree would hold (tracked and new ones; not what .gitignore names)."""
    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", "-C", str(CHECKOUT), *args], capture_output=True, text=True)
        except OSError as error:
            raise BuildError(f"git is needed to list the checkout's files: {error.strerror}") from None
        if done.returncode != 0:
            raise BuildError(f"{CHECKOUT} is not a git checkout (git {args[0]}: {done.stderr.strip()})")
        return done.stdout
    listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    files = [f for f in dict.fromkeys(listed) if f and os.path.lexists(CHECKOUT / f)]  # not files deleted since
    return Checkout(files=files, commit=git("rev-parse", "--short", "HEAD").strip(), dirty=bool(git("status", "--porcelain")))


def _anonymous(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """Files owned by whoever unpacks the bundle, not by this machine's user."""
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


class Output:
    """The archive, written to a fresh file beside ``path`` and renamed into place when complete (never through a
    symbolic link planted at ``path``; nothing half-written is left on failure or Ctrl-C)."""

    def __init__(self, path: Path):
        self.path = path
        if path.is_dir():
            raise UsageError(f"cannot write {path}: it is a directory")
        self.partial = path.with_name(f".{path.name}.{os.getpid()}.part")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UsageError(f"cannot write {path}: cannot make the directory {path.parent}: {error.strerror}") from None
        try:
            self.file = os.fdopen(os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644), "wb")
        except OSError as error:
            raise UsageError(f"cannot write {path}: {error.strerror}") from None

    def __enter__(self) -> Output:
        return self

    def __exit__(self, kind, error, trace) -> None:
        self.file.close()
        if kind is None:
            try:
                os.replace(self.partial, self.path)
                return
            except OSError as failure:
                self.partial.unlink(missing_ok=True)
                raise BuildError(f"cannot write {self.path}: {failure.strerror}") from None
        self.partial.unlink(missing_ok=True)


def build(options: Options, source: Checkout, output: Output, say) -> dict:
    """Download, install and pack every site; returns the manifest."""
    requirements = CHECKOUT / "requirements.txt"
    downloads = {site: sites.download(site, requirements, options.cache, say) for site in options.sites}
    common, own = sites.split(downloads)
    manifest = {
        "format": "mmapconf-bundle",
        "version": 1,
        "commit": source.commit,
        "dirty": source.dirty,
        "built": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "requirements": [line.strip() for line in requirements.read_text().splitlines()
                         if line.strip() and not line.startswith("#")],
        "sites": [{"name": site.name, "arch": site.arch, "python": site.python,
                   "platform": sites.ARCHITECTURES[site.arch], "wheels": [w.name for w in own[site]]}
                  for site in options.sites],
        "common": [w.name for w in common],
    }
    options.cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".staging-", dir=options.cache) as staging:
        packages = Path(staging) / SITE_PACKAGES
        sites.install(options.sites[0], common, packages / sites.COMMON)
        for site in options.sites:
            sites.install(site, own[site], packages / site.name)
        with tarfile.open(fileobj=output.file, mode="w:gz", compresslevel=6) as tar:
            for name in source.files:
                tar.add(CHECKOUT / name, f"{source.name}/{name}", recursive=False, filter=_anonymous)
            tar.add(packages, f"{source.name}/{SITE_PACKAGES}", filter=_anonymous)
            text = (json.dumps(manifest, indent=1) + "\n").encode()
            info = _anonymous(tarfile.TarInfo(f"{source.name}/{MANIFEST}"))
            info.size, info.mtime, info.mode = len(text), int(time.time()), 0o644
            tar.addfile(info, io.BytesIO(text))
    return manifest


def main(argv: list[str] | None = None) -> int:
    started = time.monotonic()

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)
    try:
        options = parse(sys.argv[1:] if argv is None else argv)
        if importlib.util.find_spec("pip") is None:
            raise BuildError(f"{sys.executable} has no pip, which downloads the pinned packages "
                             "(Debian: apt-get install python3-pip)")
        source = checkout()
        archs = "-".join(dict.fromkeys(site.arch for site in options.sites))
        path = options.output or CHECKOUT / "dist" / f"{source.name}-{archs}.tar.gz"
        with Output(path.absolute()) as output:
            manifest = build(options, source, output, say)
    except UsageError as error:
        say(f"{PROG}: {error}")
        return EXIT_USAGE
    except BuildError as error:
        say(f"{PROG}: {error}")
        return EXIT_BUILD
    except OSError as error:  # the cache or the output's disk: unwritable, full
        say(f"{PROG}: {error}")
        return EXIT_BUILD
    except KeyboardInterrupt:
        say(f"{PROG}: interrupted: no bundle written")
        return EXIT_INTERRUPTED
    size = output.path.stat().st_size
    print(f"bundle: {output.path} ({size / 1e6:.1f} MB, commit {manifest['commit']}{' with changes' if source.dirty else ''}; "
          f"{' '.join(s['name'] for s in manifest['sites'])}; {time.monotonic() - started:.1f} s)")
    print(f"on the target: tar xzf {output.path.name} && {source.name}/mmapconf suite [pytest options]")
    return EXIT_OK
