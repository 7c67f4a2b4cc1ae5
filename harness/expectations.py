"""Known platform behaviour: which claims a platform is recorded to refute, or which alternative it takes.

Files ``suite/expectations/*.toml`` hold ``[[expect]]`` tables:

    claim = "OPEN-6"                 # catalog claim ID
    verdict = "refuted"              # or "observed" (then: alternatives = [...])
    os = "Linux"                     # platform predicate: all given keys must match
    kernel = ">=5.4"                 # optional: comma-separated bounds on the upstream version (kernel_upstream())
    fs = ["ext4", "tmpfs"]           # optional: filesystem types (as in reports), or names of
                                     # provisioned filesystems (e.g. "overlay-tmpfs", "ext4-1k")
    small_blocks = true              # optional: only where the filesystem's blocks are smaller than its
                                     # pages (ext4-1k; ext4 under 16 and 64 KiB pages)
    reason = "why the platform behaves so"
    reference = "where that behaviour is specified or explained"

A matching entry turns a refutation into an expected failure (an entry naming
the filesystem takes precedence over one for every filesystem); if the claim
starts to hold (or takes another alternative), the test fails and says so.
Without an entry a normative or derived claim is expected to hold.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fixtures.libc import PAGE_SIZE
from fixtures.platform import kernel_version_tuple
from harness.catalog import Catalog, CatalogError, catalog, shown_path

EXPECTATIONS_DIR = Path(__file__).resolve().parents[1] / "suite" / "expectations"
FIELDS = {"claim", "verdict", "alternatives", "os", "kernel", "fs", "small_blocks", "reason", "reference"}
BOUND = re.compile(r"^(>=|<=|>|<|==)\s*(\d+(?:\.\d+)*)$")


@dataclass(frozen=True)
class Expectation:
    claim: str
    verdict: str
    alternatives: tuple[str, ...]
    os: str
    kernel: str
    fs: tuple[str, ...]
    small_blocks: bool
    reason: str
    reference: str
    file: str

    def applies(self, os_name: str, kernel_release: str, fs: tuple[str, ...], small_blocks: bool = False) -> bool:
        """``fs``: the names the target's filesystem goes by (fs_names_in_expectations()); ``small_blocks``:
        whether its blocks are smaller than its pages (has_small_blocks())."""
        if self.os and self.os != os_name:
            return False
        if self.fs and not set(fs) & set(self.fs):
            return False
        if self.small_blocks and not small_blocks:
            return False
        return kernel_in_range(kernel_release, self.kernel)

    def as_dict(self) -> dict:
        return {
            "verdict": self.verdict,
            "alternatives": list(self.alternatives),
            "reason": self.reason,
            "reference": self.reference,
            "file": self.file,
        }


def _compare(left: tuple[int, ...], op: str, right: tuple[int, ...]) -> bool:
    width = max(len(left), len(right))
    left, right = left + (0,) * (width - len(left)), right + (0,) * (width - len(right))
    return {">=": left >= right, "<=": left <= right, ">": left > right, "<": left < right, "==": left == right}[op]


def kernel_in_range(release: str, spec: str) -> bool:
    version = kernel_version_tuple(release)
    for bound in filter(None, (b.strip() for b in spec.split(","))):
        op, number = BOUND.match(bound).groups()
        if not _compare(version, op, tuple(int(n) for n in number.split("."))):
            return False
    return True


def parse_expectation(entry: dict, cat: Catalog, path: Path, number: int) -> Expectation:
    """Validate entry ``number`` (from 1) of the expectation file ``path`` and build an Expectation from it."""
    where = f"{shown_path(path)} entry #{number}"
    unknown = set(entry) - FIELDS
    if unknown:
        raise CatalogError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    for key in ("claim", "verdict", "reason", "reference"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise CatalogError(f"{where}: '{key}' is required (a non-empty string)")
    if entry["claim"] not in cat:
        raise CatalogError(f"{where}: no claim {entry['claim']} in the catalog")
    claim = cat[entry["claim"]]
    verdict = entry["verdict"]
    alternatives = tuple(entry.get("alternatives", ()))
    if verdict == "observed":
        if claim.kind != "impl" or not alternatives or not set(alternatives) <= set(claim.alternatives):
            raise CatalogError(f"{where}: 'observed' needs an impl claim and alternatives from its list {claim.alternatives}")
    elif verdict != "refuted" or alternatives:
        raise CatalogError(f"{where}: verdict must be 'refuted', or 'observed' with alternatives")
    kernel = entry.get("kernel", "")
    if not all(BOUND.match(b.strip()) for b in kernel.split(",") if b.strip()):
        raise CatalogError(f"{where}: kernel must be bounds like '>=5.4,<6.1'")
    fs = entry.get("fs", [])
    if not isinstance(fs, list) or not all(isinstance(f, str) for f in fs):
        raise CatalogError(f"{where}: 'fs' must be a list of filesystem types")
    if entry.get("small_blocks", True) is not True:
        raise CatalogError(f"{where}: 'small_blocks' is true or absent")
    return Expectation(claim.id, verdict, alternatives, entry.get("os", ""), kernel, tuple(fs),
                       entry.get("small_blocks", False), entry["reason"].strip(), entry["reference"].strip(), path.name)


def load_expectations(cat: Catalog, directory: Path = EXPECTATIONS_DIR) -> tuple[Expectation, ...]:
    if not directory.is_dir():  # a mistyped --expectations must not mean "no expectations"
        problem = "is not a directory" if directory.exists() else "does not exist"
        raise CatalogError(f"expectations directory {directory} {problem} (expectation files: suite/expectations/*.toml)")
    expectations = []
    for path in sorted(directory.glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as error:
            raise CatalogError(f"{shown_path(path)}: {error}") from None
        if set(data) - {"expect"}:
            raise CatalogError(f"{shown_path(path)}: an expectation file holds only [[expect]] tables")
        for index, entry in enumerate(data.get("expect", [])):
            expectations.append(parse_expectation(entry, cat, path, index + 1))
    return tuple(expectations)


@cache
def expectations(directory: Path = EXPECTATIONS_DIR) -> tuple[Expectation, ...]:
    return load_expectations(catalog(), directory)


def fs_names_in_expectations(fs: dict) -> tuple[str, ...]:
    """The names a target's filesystem goes by in expectations: its type and, if the run provisioned it, the
    provisioned filesystem's name (two overlays or two ext4s made differently share a type, not a name)."""
    provisioned = fs.get("provisioned") or {}
    return (fs["type"],) + ((provisioned["name"],) if provisioned.get("name") else ())


def has_small_blocks(fs: dict) -> bool:
    """Whether a target's filesystem has blocks smaller than the pages its files are mapped in (its statfs block
    size against its page size): the page holding EOF then spans blocks wholly past EOF."""
    block, page = fs.get("block_size"), fs.get("page_size") or PAGE_SIZE
    return bool(block) and block < page


def expectation_for(directory: Path, claim_id: str, os_name: str, kernel_release: str,
                    fs: tuple[str, ...], small_blocks: bool = False) -> Expectation | None:
    """The expectation in ``directory`` recorded for this claim on this platform, if any: the first one that
    names this filesystem (one that also asks for small blocks first), else the first one for any filesystem."""
    matching = [e for e in expectations(directory)
                if e.claim == claim_id and e.applies(os_name, kernel_release, fs, small_blocks)]
    return next((e for e in sorted(matching, key=lambda e: not e.small_blocks) if e.fs), matching[0] if matching else None)
