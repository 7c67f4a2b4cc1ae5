"""The claim catalog: every documented claim about mmap, as data.

Entries live in ``suite/claims/<topic>.toml`` (one ``[[claim]]`` table each).
The loader validates them against the inventory (``suite/claims/inventory.md``,
a copy of the project's ``shared/claims-inventory.md``) so that a typo in an ID
or a missing field is an error at load time, never a silently absent claim.

Run ``python -m harness.catalog [--seeds DIR]`` to validate the catalog and (with
``--seeds``) check that every quote stands verbatim in its source document.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

from harness.requirements import REQUIREMENTS

ROOT = Path(__file__).resolve().parents[1]
CLAIMS_DIR = ROOT / "suite" / "claims"
INVENTORY = CLAIMS_DIR / "inventory.md"

KINDS = ("normative", "impl", "derived")
ID_PATTERN = re.compile(r"^[A-Z]+-\d+(/[a-z0-9-]+)?$")
INVENTORY_ROW = re.compile(r"^\|\s*([A-Z]+-\d+)\s*\|")
SEED_NAME = re.compile(r"^\d{3}_[0-9a-f]{16}\.txt$")
BEHAVIOUR_NAME = re.compile(r"^[A-Z][A-Za-z0-9]+$")
CLAIM_HEADER = re.compile(r"^\s*\[\[\s*claim\s*\]\]")

REQUIRED = ("id", "name", "statement", "kind", "inventory", "reference", "sources")
OPTIONAL = ("preconditions", "requires", "alternatives", "derived_from", "contradicts", "reading", "notes")


class CatalogError(Exception):
    """The catalog (or an entry given to the loader) is malformed."""


def shown_path(path: Path) -> str:
    """A data file as messages name it: from the checkout's root when inside it (the claims and the expectations
    both have an open.toml), else as given."""
    resolved = path.resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(path)


@dataclass(frozen=True)
class Source:
    seed: str
    quote: str


@dataclass(frozen=True)
class Claim:
    id: str
    name: str
    topic: str
    statement: str
    kind: str
    inventory: tuple[str, ...]
    reference: str
    sources: tuple[Source, ...]
    preconditions: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()  # what its test needs of its target (harness/requirements.py)
    alternatives: tuple[str, ...] = ()
    derived_from: tuple[str, ...] = ()
    contradicts: tuple[str, ...] = ()
    reading: str = ""
    notes: str = ""
    entry: tuple[str, int] | None = None  # where its [[claim]] table starts: file (as shown_path gives it), line

    def as_dict(self) -> dict:
        entry = {"catalog": {"file": self.entry[0], "line": self.entry[1]}} if self.entry else {}
        return {
            "id": self.id,
            "name": self.name,
            "topic": self.topic,
            "statement": self.statement,
            "kind": self.kind,
            "inventory": list(self.inventory),
            "reference": self.reference,
            "sources": [{"seed": s.seed, "quote": s.quote} for s in self.sources],
            "preconditions": list(self.preconditions),
            "requires": list(self.requires),
            "alternatives": list(self.alternatives),
            "derived_from": list(self.derived_from),
            "contradicts": list(self.contradicts),
            "reading": self.reading,
            "notes": self.notes,
            **entry,
        }


@dataclass(frozen=True)
class Catalog:
    claims: tuple[Claim, ...]
    inventory_ids: frozenset[str] = field(default_factory=frozenset)

    def __getitem__(self, claim_id: str) -> Claim:
        for claim in self.claims:
            if claim.id == claim_id:
                return claim
        raise KeyError(claim_id)

    def __contains__(self, claim_id: str) -> bool:
        return any(c.id == claim_id for c in self.claims)

    def uncovered_inventory_ids(self) -> list[str]:
        covered = {i for c in self.claims for i in c.inventory}
        return sorted(self.inventory_ids - covered, key=_id_order)


def _id_order(claim_id: str) -> tuple[str, int, str]:
    topic, _, rest = claim_id.partition("-")
    number, _, reading = rest.partition("/")
    return topic, int(number), reading


def read_inventory_ids(path: Path = INVENTORY) -> frozenset[str]:
    ids = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        match = INVENTORY_ROW.match(line)
        if match:
            ids.add(match.group(1))
    if not ids:
        raise CatalogError(f"{shown_path(path)}: no inventory IDs found")
    return frozenset(ids)


def _strings(entry: dict, key: str, where: str) -> tuple[str, ...]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise CatalogError(f"{where}: '{key}' must be a list of non-empty strings")
    return tuple(value)


def parse_claim(entry: dict, topic: str, inventory_ids: frozenset[str], where: str) -> Claim:
    """Validate one ``[[claim]]`` table and build a Claim from it."""
    missing = [k for k in REQUIRED if k not in entry]
    if missing:
        raise CatalogError(f"{where}: missing {', '.join(missing)}")
    unknown = sorted(set(entry) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise CatalogError(f"{where}: unknown field(s) {', '.join(unknown)}")
    claim_id = entry["id"]
    where = f"{where} ({claim_id})"
    if not isinstance(claim_id, str) or not ID_PATTERN.match(claim_id):
        raise CatalogError(f"{where}: id must look like TOPIC-N or TOPIC-N/reading")
    if not isinstance(entry["name"], str) or not BEHAVIOUR_NAME.match(entry["name"]):
        raise CatalogError(f"{where}: name must be a CamelCase behaviour name")
    for key in ("statement", "reference"):
        if not isinstance(entry[key], str) or not entry[key].strip():
            raise CatalogError(f"{where}: '{key}' must be a non-empty string")
    kind = entry["kind"]
    if kind not in KINDS:
        raise CatalogError(f"{where}: kind '{kind}' is not one of {', '.join(KINDS)}")
    inventory = _strings(entry, "inventory", where)
    if not inventory:
        raise CatalogError(f"{where}: 'inventory' must name at least one inventory ID")
    unknown_ids = [i for i in inventory if i not in inventory_ids]
    if unknown_ids:
        raise CatalogError(f"{where}: inventory ID(s) not in the inventory: {', '.join(unknown_ids)}")
    derived_from = _strings(entry, "derived_from", where)
    contradicts = _strings(entry, "contradicts", where)
    for ref in derived_from + contradicts:
        if ref not in inventory_ids:
            raise CatalogError(f"{where}: '{ref}' is not an inventory ID")
    if kind == "derived" and not derived_from:
        raise CatalogError(f"{where}: a derived claim must name what it derives from (derived_from)")
    requires = _strings(entry, "requires", where)
    unknown_needs = [need for need in requires if need not in REQUIREMENTS]
    if unknown_needs:
        raise CatalogError(f"{where}: 'requires' names {', '.join(unknown_needs)}, "
                           f"not one of {', '.join(REQUIREMENTS)}")
    alternatives = _strings(entry, "alternatives", where)
    if kind == "impl" and len(alternatives) < 2:
        raise CatalogError(f"{where}: an impl claim must list at least two alternatives")
    if kind != "impl" and alternatives:
        raise CatalogError(f"{where}: only impl claims have alternatives")
    sources = entry["sources"]
    if not isinstance(sources, list) or not sources:
        raise CatalogError(f"{where}: 'sources' must be a non-empty list of {{seed, quote}}")
    parsed_sources = []
    for source in sources:
        if not isinstance(source, dict) or set(source) != {"seed", "quote"}:
            raise CatalogError(f"{where}: each source has exactly 'seed' and 'quote'")
        if not SEED_NAME.match(str(source["seed"])):
            raise CatalogError(f"{where}: seed '{source['seed']}' is not a seed file name")
        quote = source["quote"]
        if not isinstance(quote, str) or not quote.strip() or len(quote) > 200:
            raise CatalogError(f"{where}: a quote must be a non-empty string of at most 200 characters")
        parsed_sources.append(Source(source["seed"], quote))
    for key in ("reading", "notes"):
        if key in entry and not isinstance(entry[key], str):
            raise CatalogError(f"{where}: '{key}' must be a string")
    return Claim(
        id=claim_id,
        name=entry["name"],
        topic=topic,
        statement=entry["statement"].strip(),
        kind=kind,
        inventory=inventory,
        reference=entry["reference"].strip(),
        sources=tuple(parsed_sources),
        preconditions=_strings(entry, "preconditions", where),
        requires=requires,
        alternatives=alternatives,
        derived_from=derived_from,
        contradicts=contradicts,
        reading=entry.get("reading", "").strip(),
        notes=entry.get("notes", "").strip(),
    )


def load_catalog(claims_dir: Path = CLAIMS_DIR, inventory: Path = INVENTORY) -> Catalog:
    inventory_ids = read_inventory_ids(inventory)
    claims: list[Claim] = []
    seen: dict[str, str] = {}
    files = sorted(claims_dir.glob("*.toml"))
    if not files:
        raise CatalogError(f"{shown_path(claims_dir)}: no claim files")
    for path in files:
        shown = shown_path(path)
        text = path.read_text(encoding="utf-8")
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise CatalogError(f"{shown}: {error}") from None
        if set(data) != {"claim"} or not isinstance(data["claim"], list):
            raise CatalogError(f"{shown}: a claim file holds only [[claim]] tables")
        lines = _claim_header_lines(text)
        if len(lines) != len(data["claim"]):  # reports link each claim to its entry's line
            raise CatalogError(f"{shown}: write each claim as a [[claim]] table, its header on a line of its own")
        for index, entry in enumerate(data["claim"]):
            claim = parse_claim(entry, path.stem, inventory_ids, f"{shown} claim #{index + 1}")
            claim = replace(claim, entry=(shown, lines[index]))
            if claim.id in seen:
                raise CatalogError(f"{shown}: duplicate claim id {claim.id} (also in {seen[claim.id]})")
            if claim.name in {c.name for c in claims}:
                raise CatalogError(f"{shown}: duplicate claim name {claim.name}")
            seen[claim.id] = shown
            claims.append(claim)
    claims.sort(key=lambda c: _id_order(c.id))
    return Catalog(tuple(claims), inventory_ids)


def _claim_header_lines(text: str) -> list[int]:
    """The line numbers (from 1) of a claim file's [[claim]] headers, the n-th one starting the n-th entry."""
    return [number for number, line in enumerate(text.splitlines(), 1) if CLAIM_HEADER.match(line)]


@cache
def catalog() -> Catalog:
    """The project's catalog, loaded once per process."""
    return load_catalog()


def _normalise(text: str) -> str:
    return " ".join(text.split())


def misquoted_sources(cat: Catalog, seeds_dir: Path) -> list[str]:
    """Sources whose quote does not stand verbatim (up to white space) in its seed."""
    problems = []
    texts: dict[str, str] = {}
    for claim in cat.claims:
        for source in claim.sources:
            if source.seed not in texts:
                path = seeds_dir / source.seed
                if not path.is_file():
                    problems.append(f"{claim.id}: seed {source.seed} not found in {seeds_dir}")
                    texts[source.seed] = ""
                    continue
                texts[source.seed] = _normalise(path.read_text(encoding="utf-8", errors="replace"))
            if texts[source.seed] and _normalise(source.quote) not in texts[source.seed]:
                problems.append(f"{claim.id}: quote not in {source.seed}: {source.quote!r}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.catalog", description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=Path, help="check every quote against the seed documents in DIR")
    args = parser.parse_args(argv)
    if args.seeds and not args.seeds.is_dir():
        parser.error(f"--seeds {args.seeds}: not a directory (the seed documents, e.g. ../shared/seeds)")
    try:
        cat = load_catalog()
    except CatalogError as error:
        print(f"catalog error: {error}", file=sys.stderr)
        return 1
    problems = misquoted_sources(cat, args.seeds) if args.seeds else []
    for problem in problems:
        print(problem, file=sys.stderr)
    uncovered = cat.uncovered_inventory_ids()
    print(f"{len(cat.claims)} claims; inventory IDs not yet covered: {len(uncovered)}"
          + (f" ({', '.join(uncovered)})" if uncovered else ""))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
