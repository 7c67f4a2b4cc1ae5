"""The catalog loader accepts the project's catalog and rejects malformed entries."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from harness.catalog import CLAIMS_DIR, INVENTORY, CatalogError, load_catalog, main, misquoted_sources, parse_claim

SHARED = Path(os.environ.get("MMAPCONF_SHARED", Path(__file__).resolve().parents[2] / "shared"))
INVENTORY_IDS = frozenset({"OPEN-1", "OPEN-5", "EOF-1", "BUS-5"})

GOOD = {
    "id": "OPEN-1",
    "name": "SharedWritableMapOfReadOnlyFdFailsEACCES",
    "statement": "mmap(MAP_SHARED, PROT_WRITE) on an O_RDONLY fd fails with EACCES.",
    "kind": "normative",
    "inventory": ["OPEN-1"],
    "reference": "POSIX.1-2024 mmap, ERRORS: EACCES",
    "sources": [{"seed": "000_e9e52d674002bb12.txt", "quote": "will fail with EACCES"}],
}


def parse(**changes):
    entry = {k: v for k, v in {**GOOD, **changes}.items() if v is not None}
    return parse_claim(entry, "open", INVENTORY_IDS, "open.toml claim #1")


def test_good_entry_parses():
    claim = parse()
    assert claim.id == "OPEN-1" and claim.topic == "open" and claim.sources[0].quote == "will fail with EACCES"


def test_requirements_parse_and_reach_the_report():
    claim = parse(requires=["writable-file", "writable-shared-mapping"])
    assert claim.requires == ("writable-file", "writable-shared-mapping")
    assert claim.as_dict()["requires"] == ["writable-file", "writable-shared-mapping"]


@pytest.mark.parametrize("changes, message", [
    ({"statement": None}, "missing statement"),
    ({"kind": "maybe"}, "kind 'maybe'"),
    ({"inventory": ["OPEN-99"]}, "not in the inventory"),
    ({"inventory": []}, "at least one inventory ID"),
    ({"id": "open one"}, "id must look like"),
    ({"name": "not camel"}, "CamelCase"),
    ({"colour": "red"}, "unknown field"),
    ({"kind": "impl"}, "at least two alternatives"),
    ({"alternatives": ["a", "b"]}, "only impl claims"),
    ({"kind": "derived"}, "derived_from"),
    ({"kind": "derived", "derived_from": ["NOPE-1"]}, "not an inventory ID"),
    ({"sources": []}, "non-empty list"),
    ({"sources": [{"seed": "000.txt", "quote": "x"}]}, "not a seed file name"),
    ({"sources": [{"seed": "000_e9e52d674002bb12.txt", "quote": "x" * 201}]}, "at most 200"),
    ({"sources": [{"seed": "000_e9e52d674002bb12.txt"}]}, "exactly 'seed' and 'quote'"),
    ({"requires": ["a-fast-disk"]}, "'requires' names a-fast-disk, not one of writable-file, file-write"),
])
def test_bad_entry_is_rejected(changes, message):
    with pytest.raises(CatalogError, match=message):
        parse(**changes)


def write_catalog(tmp_path: Path, *entries: str) -> Path:
    claims = tmp_path / "claims"
    claims.mkdir()
    for index, text in enumerate(entries):
        (claims / f"t{index}.toml").write_text(text)
    return claims


ENTRY_TOML = """
[[claim]]
id = "OPEN-1"
name = "{name}"
statement = "s"
kind = "normative"
inventory = ["OPEN-1"]
reference = "r"
sources = [{{ seed = "000_e9e52d674002bb12.txt", quote = "q" }}]
"""


def test_each_claim_knows_where_its_entry_starts(tmp_path):
    second = ENTRY_TOML.format(name="SecondName").replace('"OPEN-1"', '"OPEN-5"')
    claims = write_catalog(tmp_path, "# a comment first\n" + ENTRY_TOML.format(name="FirstName") + second)
    shown = str(claims / "t0.toml")  # outside the checkout: the path as given
    loaded = load_catalog(claims, INVENTORY).claims
    assert [(c.id, c.entry) for c in loaded] == [("OPEN-1", (shown, 3)), ("OPEN-5", (shown, 12))]
    assert loaded[0].as_dict()["catalog"] == {"file": shown, "line": 3}
    assert "catalog" not in parse().as_dict()  # an entry parsed on its own comes from no file


def test_a_claim_not_written_as_a_table_of_its_own_is_rejected(tmp_path):
    claims = write_catalog(tmp_path, 'claim = [{ id = "OPEN-1" }]\n')  # valid TOML, but no line to link to
    with pytest.raises(CatalogError, match="t0.toml: write each claim as a \\[\\[claim\\]\\] table"):
        load_catalog(claims, INVENTORY)


def test_duplicate_ids_across_files_are_rejected(tmp_path):
    claims = write_catalog(tmp_path, ENTRY_TOML.format(name="FirstName"), ENTRY_TOML.format(name="SecondName"))
    with pytest.raises(CatalogError, match="duplicate claim id OPEN-1"):
        load_catalog(claims, INVENTORY)


def test_toml_syntax_error_names_the_file(tmp_path):
    claims = write_catalog(tmp_path, "[[claim]\n")
    with pytest.raises(CatalogError, match=f"^{re.escape(str(claims / 't0.toml'))}: "):
        load_catalog(claims, INVENTORY)


def test_entry_error_names_the_file_with_its_directory(tmp_path):
    claims = write_catalog(tmp_path, ENTRY_TOML.format(name="lowercase"))
    with pytest.raises(CatalogError, match=f"^{re.escape(str(claims / 't0.toml'))} claim #1 \\(OPEN-1\\): name must"):
        load_catalog(claims, INVENTORY)


def test_project_catalog_loads_and_every_entry_cites_the_inventory():
    catalog = load_catalog()
    assert catalog.claims
    assert all(set(c.inventory) <= catalog.inventory_ids for c in catalog.claims)


def test_uncovered_inventory_ids_are_reported(tmp_path):
    catalog = load_catalog(write_catalog(tmp_path, ENTRY_TOML.format(name="FirstName")), INVENTORY)
    assert "OPEN-1" not in catalog.uncovered_inventory_ids()
    assert "BUS-5" in catalog.uncovered_inventory_ids()


@pytest.mark.skipif(not (SHARED / "seeds").is_dir(), reason="the project's shared/seeds is not beside this checkout")
def test_every_quote_stands_in_its_seed():
    assert misquoted_sources(load_catalog(), SHARED / "seeds") == []


@pytest.mark.skipif(not (SHARED / "claims-inventory.md").is_file(), reason="shared/claims-inventory.md is not beside this checkout")
def test_vendored_inventory_matches_shared_copy():
    assert (CLAIMS_DIR / "inventory.md").read_text() == (SHARED / "claims-inventory.md").read_text(), \
        "suite/claims/inventory.md is stale: copy shared/claims-inventory.md over it"


def test_a_missing_seeds_directory_is_one_usage_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["--seeds", str(tmp_path / "nope")])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(": not a directory (the seed documents, e.g. ../shared/seeds)")
