"""``auditkit init``: give a project the stock audits and a config block."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from auditkit.compare import DEFAULT_TOLERANCE
from auditkit.config import RUN_DEFAULTS
from auditkit.registry import all_audits


def config_block() -> str:
    """The ``[tool.auditkit]`` block ``auditkit init`` appends: the stock defaults, spelt out.

    Examples
    --------
    >>> "[tool.auditkit.thresholds.jpeg_quality]" in config_block()
    True
    """
    lines = [
        "[tool.auditkit]",
        "# Encoders audited when `pytest audits/` gets no --encoder.",
        f"encoders = {_toml(RUN_DEFAULTS['encoders'])}",
        "# Reference rows audited alongside: the pixels baseline shows what is there to be found.",
        f"references = {_toml(RUN_DEFAULTS['references'])}",
        f"seed = {RUN_DEFAULTS['seed']}",
        "# How far a case may leak more than --audit-baseline before it is a regression.",
        f"baseline_tolerance = {DEFAULT_TOLERANCE}",
    ]
    for audit in all_audits():
        lines += ["", f"[tool.auditkit.thresholds.{audit.name}]"]
        if audit.note:
            lines.append(f"# {audit.note}")
        lines += [f"{kind} = {_toml(list(values))}" for kind, values in audit.thresholds.items()]
    return "\n".join(lines) + "\n"


def _toml(value: object) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)



def stock_audit_files() -> dict[str, str]:
    """Name -> source of the stock audit tests shipped in the wheel."""
    try:
        root = resources.files("auditkit.stock_audits")
        files = {p.name: p.read_text(encoding="utf-8") for p in root.iterdir()
                 if p.name.startswith("test_") and p.name.endswith(".py")}
        if files:
            return files
    except (ModuleNotFoundError, FileNotFoundError):
        pass
    # A source checkout that is not installed: the audits/ folder itself.
    checkout = Path(__file__).resolve().parent.parent / "audits"
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(checkout.glob("test_*.py"))}


def init_project(target: Path, force: bool = False) -> list[str]:
    """Write ``audits/`` and a ``[tool.auditkit]`` block; returns what it did."""
    done = []
    audits = target / "audits"
    audits.mkdir(parents=True, exist_ok=True)
    for name, text in sorted(stock_audit_files().items()):
        path = audits / name
        if path.exists() and not force:
            done.append(f"kept     {path} (exists; --force overwrites)")
            continue
        path.write_text(text, encoding="utf-8")
        done.append(f"wrote    {path}")
    pyproject = target / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8") if pyproject.exists() else ""
    if "[tool.auditkit]" in text:
        done.append(f"kept     {pyproject} ([tool.auditkit] already there)")
    else:
        prefix = text.rstrip() + "\n\n" if text.strip() else ""
        pyproject.write_text(prefix + config_block(), encoding="utf-8")
        done.append(f"appended [tool.auditkit] to {pyproject}")
    done.append("run:     pytest audits/ --encoder=pixels")
    return done
