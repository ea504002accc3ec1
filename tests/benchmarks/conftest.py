"""The benchmarks are scripts run from a checkout (``python benchmarks/pipeline.py``).

Python puts a script's folder on ``sys.path``; the tests do the same, so that
``pipeline``, ``calibration`` and the ``studies`` package import as they do
when run.
"""

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))
