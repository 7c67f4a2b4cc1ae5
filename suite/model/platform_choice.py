"""Which alternatives the model takes on this platform: those the expectations (suite/expectations/) record for
the OS, kernel and filesystem, as the model's Platform (suite/model/reference.py)."""

from __future__ import annotations

import platform as platform_module
from pathlib import Path

from fixtures.platform import fs_identity, kernel_upstream
from harness.expectations import (EXPECTATIONS_DIR, expectation_for, expectations, fs_names_in_expectations,
                                  has_small_blocks, kernel_in_range)
from suite.model.reference import Platform


def _alternative(directory: Path, claim: str, os_name: str, release: str, fs: tuple[str, ...]) -> str | None:
    """The alternative recorded for an impl claim on this platform; failing an entry for this filesystem,
    the one every entry for this OS and kernel agrees on (those for every filesystem if there are any, else those
    naming one alternative; None if there is none, or they disagree).

    Where this filesystem's entry records several alternatives (overlayfs: a mapping made before the file's
    copy-up keeps the lower file), the one every entry agrees on, if it is among them: the model's file is
    opened read-write before anything maps it, so it is always the copied-up file."""
    entries = [e for e in expectations(directory) if e.claim == claim and e.verdict == "observed"
               and (not e.os or e.os == os_name) and kernel_in_range(release, e.kernel)]
    found = {e.alternatives for e in [e for e in entries if not e.fs] or [e for e in entries if len(e.alternatives) == 1]}
    agreed = next(iter(found))[0] if len(found) == 1 and len(next(iter(found))) == 1 else None
    entry = expectation_for(directory, claim, os_name, release, fs)
    if entry is not None and len(entry.alternatives) == 1:
        return entry.alternatives[0]
    if entry is not None:
        return agreed if agreed in entry.alternatives else None
    return agreed


def fs_names_for_model(fs: dict) -> tuple[str, ...]:
    """The names whose expectations the model takes on a target with this filesystem identity
    (fs_names_in_expectations()).

    The machine opens its file read-write before anything maps it, so on an overlay every mapping is of the copy
    in the upper layer: the upper layer's filesystem (the alternatives recorded for overlayfs are those of
    mappings of the lower file)."""
    upper = (fs.get("provisioned") or {}).get("upper_on")
    return (upper,) if upper else fs_names_in_expectations(fs)


def platform_for(fs: tuple[str, ...], directory: Path = EXPECTATIONS_DIR,
                 small_blocks: bool = False) -> tuple[Platform | None, dict]:
    """The model's Platform for this OS, kernel and filesystem (``fs``: the names it goes by,
    fs_names_in_expectations(); ``small_blocks``: has_small_blocks()), and what it took from where (for reports).

    Returns (None, taken) when an alternative the model needs is not recorded or not one it encodes;
    ``taken["unsupported"]`` says which."""
    uname = platform_module.uname()
    os_name, release = uname.system, kernel_upstream(uname.release, uname.version)
    needed = {
        "bus5_untouched": "BUS-5/untouched", "bus5_copied": "BUS-5/copied", "priv4": "PRIV-4/read",
        "priv4_untouched": "PRIV-4/untouched", "priv6": "PRIV-6", "shared4": "SHARED-4",
        "msync_no_sync_flag": "SYNC-7/no-sync-flag", "madvise": "PAGE-4/conventional",
    }
    taken: dict = {}
    values: dict = {}
    for name, claim in needed.items():
        alternative = _alternative(directory, claim, os_name, release, fs)
        taken[claim] = alternative
        if alternative is None:
            taken["unsupported"] = f"no single recorded alternative of {claim} for {os_name} {release} on {fs[-1]}"
            return None, taken
        values[name] = alternative
    if values.pop("priv4_untouched") != values["priv4"]:
        taken["unsupported"] = "PRIV-4/untouched and PRIV-4/read take different alternatives here"
        return None, taken
    eof3 = expectation_for(directory, "EOF-3", os_name, release, fs, small_blocks)
    values["eof3_zeroes"] = eof3 is None or eof3.verdict != "refuted"
    taken["EOF-3"] = "holds" if values["eof3_zeroes"] else "refuted"
    chosen = Platform(**values)
    reason = chosen.unsupported()
    if reason:
        taken["unsupported"] = reason
        return None, taken
    return chosen, taken


def platform_at(directory: str) -> Platform:
    """The model's Platform for the filesystem holding ``directory``, where a reproduction runs (RuntimeError if
    the model cannot run there)."""
    fs = fs_identity(directory).as_dict()
    platform, taken = platform_for((fs["type"],), small_blocks=has_small_blocks(fs))
    if platform is None:
        raise RuntimeError(f"the model cannot run here: {taken['unsupported']}")
    return platform
