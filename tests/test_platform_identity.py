"""fixtures/platform.py host_identity(): found once per process, a copy for each caller."""

from __future__ import annotations

from fixtures import platform


def test_identity_is_found_once_per_process(monkeypatch):
    platform._host_identity.cache_clear()
    first = platform.host_identity()

    def unread(package):
        raise AssertionError(f"package metadata read again ({package})")

    monkeypatch.setattr(platform.metadata, "version", unread)
    monkeypatch.setattr(platform, "_effective_capabilities", lambda: unread("/proc/self/status"))
    assert platform.host_identity() == first


def test_each_caller_gets_its_own_copy():
    first = platform.host_identity()
    first["os"] = "changed"
    first["packages"]["pytest"] = "changed"
    again = platform.host_identity()
    assert again["os"] != "changed" and again["packages"]["pytest"] != "changed"
