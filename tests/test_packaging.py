"""The wheel ships what a non-editable install needs: templates, stock audits, entry points."""

import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
         "-q", "-w", str(out)],
        check=True, capture_output=True,
    )
    (path,) = out.glob("pytest_auditkit-*.whl")
    return path


def test_wheel_carries_templates_stock_audits_and_entry_points(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "auditkit/templates/card.html.j2" in names
    assert any(n.startswith("auditkit/templates/partials/") for n in names)
    for card in ("probe", "style", "camera", "retrieval"):
        assert f"auditkit/templates/partials/cards/_{card}.html.j2" in names, card
    assert "auditkit/report/render.py" in names
    assert "auditkit/stock_audits/test_jpeg_quality.py" in names
    entry = zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith("entry_points.txt"))
    ).decode()
    assert "auditkit = auditkit.plugin" in entry and "auditkit = auditkit.cli:main" in entry


def test_installed_wheel_renders_a_card_and_inits_a_project(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
         str(wheel)],
        check=True, capture_output=True,
    )
    script = textwrap.dedent("""
        import auditkit, sys
        from pathlib import Path
        assert auditkit.__file__.startswith(sys.argv[1]), auditkit.__file__
        from auditkit.report import render_card
        from auditkit.results import AuditResult, build_document
        from auditkit.scaffold import init_project
        r = AuditResult("jpeg_quality", "max_leakage=0.1", "leakage", 0.5, (0.4, 0.6), 1/6, 0.1,
                        "max", "fail", 60)
        html = render_card(build_document({"spec": "pixels", "fingerprint": "ab"}, {}, [r]))
        assert "jpeg_quality" in html
        init_project(Path("proj"))
        assert Path("proj/audits/test_jpeg_quality.py").is_file()
        assert "[tool.auditkit]" in Path("proj/pyproject.toml").read_text()
        print("ok")
    """)
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", script, str(target)], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
