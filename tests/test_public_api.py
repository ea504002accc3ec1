"""auditkit's public face: ``__all__`` is sorted, complete and importable, and cheap."""

import ast
import subprocess
import sys
from pathlib import Path

import auditkit


def test_all_is_sorted_and_every_name_resolves():
    assert auditkit.__all__ == sorted(auditkit.__all__)
    for name in auditkit.__all__:
        assert getattr(auditkit, name) is not None, name


def test_every_export_is_declared_for_type_checkers_too():
    # The TYPE_CHECKING imports are what mypy sees; they must name exactly the lazy exports.
    tree = ast.parse(Path(auditkit.__file__).read_text(encoding="utf-8"))
    guarded = next(node for node in tree.body
                   if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING")
    declared = {(alias.name, stmt.module) for stmt in guarded.body
                for alias in stmt.names}
    assert declared == {(name, module) for name, module in auditkit._EXPORTS.items()}
    assert set(auditkit.__all__) == {*auditkit._EXPORTS, "__version__"}


def test_an_unknown_name_is_an_attribute_error():
    try:
        auditkit.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_importing_auditkit_imports_no_torch():
    code = "import sys, auditkit; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "False"
