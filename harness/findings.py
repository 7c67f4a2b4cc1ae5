"""Findings (what a judge concludes from one example) and verdicts (per claim and target)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from fixtures.outcome import Outcome

@dataclass(frozen=True)
class Finding:
    """A judge's conclusion about one example: the claim held, was refuted, or took an alternative."""

    verdict: str
    detail: str = ""
    alternative: str | None = None


def holds() -> Finding:
    return Finding("holds")


def refuted(why: str) -> Finding:
    return Finding("refuted", why)


def observed(alternative: str, detail: str = "") -> Finding:
    return Finding("observed", detail, alternative)


E = TypeVar("E", bound=BaseException)


def found_in(error: BaseException, kind: type[E]) -> E | None:
    """``error`` if it is a ``kind``, else the first ``kind`` inside it (exception groups, such as Hypothesis's
    Flaky when a failing example passed on replay), else None."""
    if isinstance(error, kind):
        return error
    for inner in getattr(error, "exceptions", ()):
        found = found_in(inner, kind)
        if found is not None:
            return found
    return None


def plain(value: Any) -> Any:
    """A JSON-friendly copy of a parameter or observation record (long byte strings abridged; an Outcome as the
    report's record of it)."""
    if isinstance(value, Outcome):
        return plain(value.as_dict())
    if hasattr(value, "__dataclass_fields__"):
        return {name: plain(getattr(value, name)) for name in value.__dataclass_fields__}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, bytes):
        return value.hex() if len(value) <= 64 else f"{value[:64].hex()}... ({len(value)} bytes)"
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)
