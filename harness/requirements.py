"""What a claim's test may require of its target: one registry, one vocabulary.

A claim names its requirements in the catalog (``requires`` in suite/claims/*.toml; harness/catalog.py rejects
a name that is not here). Each requirement says what the test needs and names the probe (fixtures/capabilities.py)
that measures, once per target in the controlling process (harness/targets.py), why a target lacks it. A target's
identity records what it lacks (``fs["lacks"]``: name -> why). A claim requiring something its target lacks is
unsupported there, with the reasons (unmet(), in harness/verdicts.py's set-up): the only way a claim becomes
unsupported for a platform reason. An example that cannot be set up where the requirements are met is rejected
instead (``conformance.reject``): Hypothesis draws another.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from fixtures import capabilities


@dataclass(frozen=True)
class Requirement:
    name: str
    needs: str  # what the claim's test needs, as "its test ..."
    probe: Callable[[Path, dict], str | None]  # (run directory, fs identity) -> why the target lacks it, or None


REQUIREMENTS = {requirement.name: requirement for requirement in (
    Requirement("writable-file", "its test opens its file for writing or writes it", capabilities.read_only_image),
    Requirement("file-write", "its test writes its file with write() or pwrite()", capabilities.write_refused),
    # Where it is lacking, an example whose file (made by Workspace) ends inside a page is rejected.
    Requirement("partial-page-files", "its test gives a file a size that is not a whole number of pages (an EOF "
                                      "inside a page)", capabilities.partial_pages_refused),
    Requirement("writable-shared-mapping", "its test maps its file, opened O_RDWR, with MAP_SHARED",
                capabilities.shared_mapping_refused),
    # Examples that map with PROT_EXEC are rejected where it is lacking (Workspace.ensure_executable).
    Requirement("exec-allowed", "its test maps its file with PROT_EXEC", capabilities.exec_refused),
    Requirement("sparse-files", "its test makes large sparse files (ftruncate() allocates no blocks)",
                capabilities.sparse_files_missing),
    Requirement("pagemap-frames", "its test compares page frame numbers from /proc/PID/pagemap",
                capabilities.frames_hidden),
    Requirement("page-cache-observable", "its test counts its file's pages in the page cache (cachestat(2), "
                                         "mincore(2)) through the descriptor it maps",
                capabilities.page_cache_elsewhere),
    Requirement("page-cache-evictable", "its test evicts its file's pages (fsync(), "
                                        "posix_fadvise(POSIX_FADV_DONTNEED)) before it maps the file",
                capabilities.pages_stay_cached),
    Requirement("writeback-observable", "its test watches its file's dirty and write-back pages (cachestat(2))",
                capabilities.writeback_unobservable),
    Requirement("sysctl-writable", "its test holds off or hastens periodic write-back (vm.dirty_*)",
                capabilities.sysctl_locked),
    Requirement("backing-device", "its test changes its file behind the page cache (an O_DIRECT write)",
                capabilities.direct_write_refused),
    Requirement("crash-image", "its test reads its file back from a crash copy of the target's block device",
                capabilities.crash_copy_impossible),
    Requirement("unmountable-device", "its test makes, unmounts and mounts again a filesystem like the target's on a "
                                      "loop device", capabilities.remount_impossible),
)}


def lacking(run_dir: Path, fs: dict) -> dict[str, str]:
    """Measure every requirement on one target (``fs``: its identity, with ``provisioned``): the ones it lacks,
    each with why. A probe that fails with OSError found a lack."""
    lacks = {}
    for requirement in REQUIREMENTS.values():
        try:
            reason = requirement.probe(run_dir, fs)
        except OSError as error:
            reason = f"its probe fails here with {errno.errorcode.get(error.errno, error.errno)} ({error.strerror})"
        if reason:
            lacks[requirement.name] = reason
    return lacks


def unmet(requires: tuple[str, ...], lacks: dict[str, str]) -> str | None:
    """Why a claim's test cannot run on a target: each requirement it names that the target lacks, and why."""
    reasons = [f"{REQUIREMENTS[need].needs} ({need}), but {lacks[need]}" for need in requires if need in lacks]
    return "; ".join(reasons) or None
