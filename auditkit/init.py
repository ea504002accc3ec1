"""``auditkit init``: give a project the stock audits and a config block."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

CONFIG_BLOCK = """
[tool.auditkit]
# Encoders audited when `pytest audits/` gets no --encoder.
encoders = ["random:timm:resnet18"]
# Reference rows audited alongside: the pixels baseline shows what is there to be found.
references = ["pixels"]
seed = 0

[tool.auditkit.thresholds.jpeg_quality]
# Normalised leakage (acc - chance) / (1 - chance); each value is one test case.
max_leakage = [0.1, 0.5]
"""


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
        pyproject.write_text(prefix + CONFIG_BLOCK.lstrip("\n"), encoding="utf-8")
        done.append(f"appended [tool.auditkit] to {pyproject}")
    done.append("run:     pytest audits/ --encoder=pixels")
    return done
