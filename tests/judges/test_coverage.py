"""Every judge in suite/scenarios has self-tests, with at least one violating observation."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import suite.scenarios
import tests.judges


def _modules(package):
    return [importlib.import_module(f"{package.__name__}.{info.name}") for info in pkgutil.iter_modules(package.__path__)]


def test_every_judge_has_self_tests():
    judges = {
        function
        for module in _modules(suite.scenarios)
        for name, function in inspect.getmembers(module, inspect.isfunction)
        if name.startswith("judge_") and function.__module__ == module.__name__
    }
    tested = {}
    for module in _modules(tests.judges):
        tested.update(getattr(module, "CASES", {}))
    missing = sorted(f"{j.__module__}.{j.__name__}" for j in judges - set(tested))
    assert not missing, f"judges without self-tests: {missing}"
    assert all(violations for _, _, violations in tested.values()), "a judge has no violating observation"
