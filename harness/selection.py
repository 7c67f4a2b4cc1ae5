"""Plugin: choosing claims by ID.

``--claim ID`` (repeatable; shell-style globs such as ``SYNC-*``; case does not
matter) keeps the tests of exactly the claims it names: ``-k SYNC-1`` also
matches SYNC-10 and every test that mentions SYNC-1, ``--claim SYNC-1`` only
SYNC-1's. ``--list-claims`` prints the catalog and exits without a run. A
selection that leaves no test says how to list the tests and the claims.
"""

from __future__ import annotations

import sys
from fnmatch import fnmatchcase

import pytest

from harness.catalog import Claim, catalog
from harness.targets import is_worker

LIST_TESTS = "./mmapconf suite --collect-only -q"  # the README's entry point
LIST_CLAIMS = "./mmapconf suite --list-claims"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mmapconf")
    group.addoption(
        "--claim", action="append", default=[], metavar="ID",
        help="run only the tests of this claim, by its exact ID or a glob ('SYNC-*', 'PAGE-4/*'); repeatable",
    )
    group.addoption(
        "--list-claims", action="store_true",
        help="print every claim (ID, kind, topic, statement: one line each) and exit",
    )


def names(pattern: str, claim_id: str) -> bool:
    """Whether a --claim value names the claim: its whole ID, or a glob over it; either case."""
    return fnmatchcase(claim_id.upper(), pattern.upper())


def listing(claims: tuple[Claim, ...]) -> list[str]:
    id_width = max(len(c.id) for c in claims)
    kind_width = max(len(c.kind) for c in claims)
    topic_width = max(len(c.topic) for c in claims)
    return [f"{c.id:<{id_width}}  {c.kind:<{kind_width}}  {c.topic:<{topic_width}}  {' '.join(c.statement.split())}"
            for c in claims]


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    """A --claim that names no claim is a usage error before the run; --list-claims answers without one.
    (harness.verdicts, registered after this module, has checked that the catalog loads.)"""
    claims = catalog().claims
    for pattern in config.getoption("claim"):
        if not any(names(pattern, claim.id) for claim in claims):
            raise pytest.UsageError(f"--claim {pattern}: no claim ID matches; `{LIST_CLAIMS}` lists them")
    if config.getoption("list_claims"):
        print("\n".join(listing(claims)))
        return 0
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    patterns = config.getoption("claim")
    if not patterns:
        return
    kept, dropped = [], []
    for item in items:
        marker = item.get_closest_marker("claim")
        named = marker is not None and bool(marker.args) and any(names(p, marker.args[0]) for p in patterns)
        (kept if named else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A selection that matches nothing keeps pytest's status ("no tests collected") and says where the names are."""
    if exitstatus != pytest.ExitCode.NO_TESTS_COLLECTED or is_worker(session.config):
        return
    config = session.config
    asked = [f"{flag} {expression!r}" for flag, expression in
             (("-k", config.getoption("keyword")), ("-m", config.getoption("markexpr"))) if expression]
    asked += [f"--claim {pattern!r}" for pattern in config.getoption("claim")]
    print(f"mmapconf: {' '.join(asked) or ' '.join(config.args)} selects no test; `{LIST_TESTS}` lists the tests, "
          f"`{LIST_CLAIMS}` the claims (-k matches claim IDs, topics and test names, --claim claim IDs only)",
          file=sys.stderr)
