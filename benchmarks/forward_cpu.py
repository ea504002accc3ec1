"""CPU forward time per image: the model as loaded against what an encoder runs.

For each spec, on random batches of the model's input size, this measures
the process CPU time per image of

``loaded``        ``encoder.module`` (the model as built) in NCHW;
``channels_last`` the same module in NHWC;
``encoder``       ``encoder.embed_batch``: the batch-norm-folded runner, in the
                  layout the encoder chose for the CPU (see
                  ``auditkit.encoders.fusion`` and ``placement``);

and the largest difference of the encoder's features from the loaded model's,
relative to their scale. Ratios are taken within one run, so that both sides
see the same machine load.

Usage::

    python benchmarks/forward_cpu.py --json out.json
    python benchmarks/forward_cpu.py --specs random:timm:resnet18 --threads 2
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from auditkit.encoders import build_encoder
from auditkit.provenance import interpreter, utc_timestamp

SPECS = ("efficientnet-lite0", "random:efficientnet-lite0", "random:timm:resnet18")


def _cpu_per_image(run: Callable[[], Any], batch: int, repeats: int) -> float:
    run()  # warm-up: allocator, oneDNN primitives
    start = time.process_time()
    for _ in range(repeats):
        run()
    return (time.process_time() - start) / repeats / batch


def measure(spec: str, batch: int, repeats: int) -> dict[str, Any]:
    encoder = build_encoder(spec).to("cpu")
    size = encoder.preprocessing["config"]["input_size"]
    x = torch.randn(batch, *size, generator=torch.Generator().manual_seed(0))
    loaded = encoder.module
    nhwc = copy.deepcopy(loaded).to(memory_format=torch.channels_last)
    x_nhwc = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        want = loaded(x)
        out = {
            "loaded": _cpu_per_image(lambda: loaded(x), batch, repeats),
            "channels_last": _cpu_per_image(lambda: nhwc(x_nhwc), batch, repeats),
        }
    out["encoder"] = _cpu_per_image(lambda: encoder.embed_batch(x), batch, repeats)
    got = torch.as_tensor(encoder.embed_batch(x))
    out["max_rel_diff"] = float((got - want).abs().max() / want.abs().max())
    out["speedup_vs_loaded"] = out["loaded"] / out["encoder"]
    return {"spec": spec, "batch": batch, "repeats": repeats, "seconds_per_image": out}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/forward_cpu.py",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--specs", nargs="+", default=list(SPECS))
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = [measure(spec, args.batch, args.repeats) for spec in args.specs]
    report = {"command": "python benchmarks/forward_cpu.py " + " ".join(sys.argv[1:]),
              "date": utc_timestamp(), "machine": interpreter(), "threads": args.threads,
              "results": rows}
    for row in rows:
        t = row["seconds_per_image"]
        print(f"{row['spec']:<28} loaded {t['loaded']:.4f}  channels_last {t['channels_last']:.4f}"
              f"  encoder {t['encoder']:.4f} s/image  ({t['speedup_vs_loaded']:.2f}x, "
              f"max rel diff {t['max_rel_diff']:.1e})")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
