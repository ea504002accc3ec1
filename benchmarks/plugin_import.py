"""What the auditkit plugin costs a pytest run that has nothing to do with auditkit.

pytest loads the plugin in every run of an environment where auditkit is
installed. This times ``python -m pytest --co -q`` on a throwaway project with
one ordinary test, with the plugin and with ``-p no:auditkit``, alternating
the two so that drift in the machine's load hits both alike, and reports the
medians of wall clock and of CPU time (user + system, which other processes on
a busy machine disturb less) and their differences. It also times the import of the plugin module
alone in a fresh interpreter that has pytest loaded (less noisy than the whole
run's wall clock on a busy machine).

Usage::

    python benchmarks/plugin_import.py --runs 21
    python benchmarks/plugin_import.py --source /path/to/other/checkout   # e.g. an older commit
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import entry_points
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _env(source: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source), env.get("PYTHONPATH")]))
    env.pop("PYTEST_ADDOPTS", None)
    return env


def _plugin_args() -> tuple[list[str], list[str]]:
    """Arguments that load the plugin, and those that leave it out."""
    if any(ep.value == "auditkit.plugin" for ep in entry_points(group="pytest11")):
        return [], ["-p", "no:auditkit"]
    # A bare checkout: the plugin is not registered, so name it.
    return ["-p", "auditkit.plugin"], []


def _time(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall-clock and CPU (user + system) seconds of one ``pytest --co`` run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider",
                    *args], cwd=cwd, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _import_ms(cwd: Path, env: dict[str, str]) -> float:
    """Time to import ``auditkit.plugin`` in a fresh interpreter that has pytest loaded."""
    code = ("import time, pytest; t = time.perf_counter(); import auditkit.plugin; "
            "print((time.perf_counter() - t) * 1000)")
    out = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, check=True,
                         capture_output=True, text=True)
    return float(out.stdout)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=21, help="runs of each kind (default 21)")
    parser.add_argument("--source", type=Path, default=ROOT,
                        help="checkout whose auditkit is imported (default: this one)")
    opts = parser.parse_args(argv)
    env = _env(opts.source.resolve())
    with_plugin, without_plugin = _plugin_args()
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        (project / "pyproject.toml").write_text('[project]\nname = "unrelated"\n')
        (project / "test_unrelated.py").write_text("def test_one():\n    assert True\n")
        _time(with_plugin, project, env)  # warm the file system caches
        plugin, bare = [], []
        for _ in range(opts.runs):
            plugin.append(_time(with_plugin, project, env))
            bare.append(_time(without_plugin, project, env))
        imports = [_import_ms(project, env) for _ in range(opts.runs)]
    print(f"auditkit from {opts.source}; {opts.runs} runs each; load average "
          f"{os.getloadavg()[0]:.1f}")
    for i, kind in enumerate(("wall clock", "CPU time")):
        p = statistics.median(t[i] for t in plugin) * 1000
        b = statistics.median(t[i] for t in bare) * 1000
        print(f"{kind:>10}: with the plugin {p:7.1f} ms, with -p no:auditkit {b:7.1f} ms, "
              f"difference {p - b:6.1f} ms (medians)")
    print(f"import of auditkit.plugin after pytest, median of {len(imports)}: "
          f"{statistics.median(imports):.1f} ms")

if __name__ == "__main__":
    main()
