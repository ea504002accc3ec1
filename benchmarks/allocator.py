"""CPU cost of an audit's two hot loops with glibc's malloc as it comes and as auditkit sets it.

``auditkit.allocator.retain_freed_memory`` raises glibc's mmap and trim
thresholds, so that large blocks freed by one forward pass or probe fit are
reused by the next instead of being unmapped and faulted in again. The
setting is process-wide, so each mode runs in a child process of its own:

``default``  malloc as the interpreter started;
``retain``   after :func:`~auditkit.allocator.retain_freed_memory`.

Each child measures, on one torch thread, the process CPU time (user and
system) and the minor page faults of

``forward``  ``encoder.embed_batch`` over random batches at the model's input size;
``probe``    one :class:`~auditkit.probes.LinearProbe` fit (C search included) on
             random rows of N x D with K classes.

The modes alternate (default, retain, default, retain, ...) so that both see
the same machine load; the figures of each pass are kept.

Usage::

    python benchmarks/allocator.py --json out.json
    python benchmarks/allocator.py --spec random:timm:resnet18 --batch 32 --passes 3
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from auditkit.provenance import interpreter, utc_timestamp

MODES = ("default", "retain")


def _usage() -> tuple[float, float, int]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime, r.ru_stime, r.ru_minflt


def _cost(run: Any, units: int) -> dict[str, float]:
    """CPU seconds (user, system) and minor faults per unit of ``run()``."""
    run()  # warm-up: oneDNN primitives, the first growth of the heap
    u0, s0, f0 = _usage()
    run()
    u1, s1, f1 = _usage()
    return {"user_s": (u1 - u0) / units, "sys_s": (s1 - s0) / units,
            "cpu_s": (u1 - u0 + s1 - s0) / units, "minor_faults": (f1 - f0) / units}


def child(mode: str, spec: str, batch: int, images: int, rows: int, dim: int,
          classes: int) -> dict[str, Any]:
    import numpy as np
    import torch

    from auditkit.allocator import retain_freed_memory
    from auditkit.encoders import build_encoder
    from auditkit.probes import LinearProbe

    applied = retain_freed_memory() if mode == "retain" else False
    torch.set_num_threads(1)
    encoder = build_encoder(spec).to("cpu")
    size = encoder.preprocessing["config"]["input_size"]
    x = torch.randn(batch, *size, generator=torch.Generator().manual_seed(0))

    def forward() -> None:
        for _ in range(images // batch):
            encoder.embed_batch(x)

    rng = np.random.default_rng(0)
    y = rng.integers(0, classes, rows).astype(str)
    X = rng.normal(size=(rows, dim)) + 0.3 * np.eye(classes, dim)[y.astype(int)]
    groups = np.arange(rows) // 6

    def probe() -> None:
        LinearProbe(random_state=0).fit(X, y, groups)

    return {"mode": mode, "applied": applied,
            "forward_per_image": _cost(forward, images // batch * batch),
            "probe_per_fit": _cost(probe, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/allocator.py",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", default="efficientnet-lite0")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--images", type=int, default=256, help="images per forward pass")
    parser.add_argument("--rows", type=int, default=6000, help="probe rows (N)")
    parser.add_argument("--dim", type=int, default=768, help="probe dimensions (D)")
    parser.add_argument("--classes", type=int, default=6, help="probe classes (K)")
    parser.add_argument("--passes", type=int, default=2, help="alternations of the two modes")
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    shape = [args.spec, args.batch, args.images, args.rows, args.dim, args.classes]
    if args.child:
        print(json.dumps(child(args.child, *shape)))
        return 0
    started, t0 = utc_timestamp(), time.perf_counter()
    runs = []
    for _ in range(args.passes):
        for mode in MODES:
            out = subprocess.run(
                [sys.executable, __file__, "--child", mode, "--spec", args.spec,
                 "--batch", str(args.batch), "--images", str(args.images),
                 "--rows", str(args.rows), "--dim", str(args.dim),
                 "--classes", str(args.classes)],
                check=True, capture_output=True, text=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print("| pass | mode | forward CPU s / image (user + sys) | faults / image "
          "| probe fit CPU s (user + sys) | faults / fit |")
    print("|---|---|---|---|---|---|")
    for i, r in enumerate(runs):
        f, p = r["forward_per_image"], r["probe_per_fit"]
        print(f"| {i // len(MODES) + 1} | {r['mode']} | {f['cpu_s']:.4f} ({f['user_s']:.4f} + "
              f"{f['sys_s']:.4f}) | {f['minor_faults']:.0f} | {p['cpu_s']:.2f} "
              f"({p['user_s']:.2f} + {p['sys_s']:.2f}) | {p['minor_faults']:.0f} |")
    if args.json:
        args.json.write_text(json.dumps({
            "command": "python benchmarks/allocator.py " + " ".join(sys.argv[1:]),
            "date": started, "machine": interpreter(), "wall_s": time.perf_counter() - t0,
            "settings": dict(zip(("spec", "batch", "images", "rows", "dim", "classes"),
                                 shape, strict=True)),
            "runs": runs}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
