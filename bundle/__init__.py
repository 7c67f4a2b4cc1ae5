"""Bundles (``python -m bundle``, ``./mmapconf bundle``): the suite and its pinned packages in one archive, for
machines without network or pip.

sites (the pinned packages per architecture and CPython version, from pip) and build (the command line, the
checkout's files, the manifest and the archive). Standard library and pip only: the builder runs with the
machine's python3, before anything is installed.
"""

from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]
# The mmapconf script recognises an unpacked bundle by this file, and puts site-packages/<site> and
# site-packages/common on the path of the suite it runs.
MANIFEST = "bundle-manifest.json"
SITE_PACKAGES = "site-packages"


class BuildError(Exception):
    """A bundle cannot be built (pip missing, a download failed, not a git checkout); the message is one line."""
