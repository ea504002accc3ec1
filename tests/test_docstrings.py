"""Every example in the package's docstrings runs and shows what it says.

The suite collects ``tests/`` only, so two examples had gone stale unseen
(a shard's size after its format changed, a key mapping that needed an
expanded block). Stdlib doctest, module by module, honours ``# doctest: +SKIP``.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import auditkit

MODULES = sorted(m.name for m in pkgutil.walk_packages(auditkit.__path__, "auditkit."))


@pytest.mark.parametrize("name", MODULES)
def test_the_examples_of_a_module_run(name):
    try:
        module = importlib.import_module(name)
    except ImportError as exc:  # an optional extra that is not installed here
        pytest.skip(f"{name}: {exc}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                             verbose=False, report=True)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
