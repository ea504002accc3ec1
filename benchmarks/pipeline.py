"""How close auditkit's extraction comes to the encoder's own limit (issue 6).

One run measures, on the same images:

``forward``   (a) the encoder's pure forward throughput on already
              preprocessed, already collated batches, per batch size;
``pipeline``  (b) auditkit's end-to-end extraction throughput (decode,
              variant, preprocessing, forward, cache write) with a fresh
              disk cache, its ratio to (a), and a per-stage breakdown;
``audit``     (c) cold and warm wall time of ``pytest audits/`` for the
              encoder, and (d) forward passes against unique cache entries;
``probe``     (e) fit time of auditkit's probe against scikit-learn's
              default ``LogisticRegression()`` at equal accuracy;
``memory``    (f) peak RSS of extraction at two probe-set sizes, each in a
              fresh process, beside the size of the embeddings.

Usage::

    python benchmarks/pipeline.py --encoder random:open_clip:ViT-B-32 --json out.json
    python benchmarks/pipeline.py --encoder random:timm:resnet18 --images 32 \\
        --max-images 24 --skip memory --json /tmp/bench.json

Each study is a module of ``benchmarks/studies/``; this file is the command
line that runs them and writes the JSON.

Timings are wall-clock and only mean something on an otherwise idle
machine: the load average at start and end is recorded beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

# ``python benchmarks/pipeline.py`` puts this folder on sys.path: the studies sit beside it.
from studies.cold_warm import audit_benchmark
from studies.extraction import cache_write_ms, forward_and_pipeline
from studies.inputs import build, select_variants
from studies.memory import memory_child, peak_memory
from studies.probe_fit import probe_comparison
from studies.table import render_table, summary

from auditkit.data import load_probe_set
from auditkit.device import pick_device
from auditkit.encoders.torch_encoder import AMP_DTYPES
from auditkit.provenance import machine_info

STEPS = ("forward", "pipeline", "audit", "probe", "memory")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--encoder", required=True, metavar="SPEC", help="encoder spec, e.g. random:timm:resnet18"
    )
    p.add_argument("--json", type=Path, metavar="PATH", help="write the results here")
    p.add_argument(
        "--device", default=None, help="torch device (default: cuda if available, else cpu)"
    )
    p.add_argument(
        "--images", type=int, default=128, help="built-in images for (a), (b) (default 128)"
    )
    p.add_argument(
        "--data", default=None, help="a probe-set folder or manifest instead of the built-in set"
    )
    p.add_argument(
        "--max-images", type=int, default=None, help="--audit-max-images of (c) (default: full set)"
    )
    p.add_argument(
        "--variants",
        nargs="+",
        default=["jpeg/q75-420"],
        help="JPEG-grid variant ids for (a), (b), (f), or 'all'",
    )
    p.add_argument(
        "--batch-sizes",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[8, 16, 32, 64],
        help="batch sizes of (a), comma-separated (default 8,16,32,64)",
    )
    p.add_argument(
        "--repeats", type=int, default=3, help="timed repeats of (a) and (b) (median counts)"
    )
    p.add_argument(
        "--pipeline-batch-size",
        type=int,
        default=None,
        help="Extractor batch size of (b) (default: the encoder's, as audits use)",
    )
    p.add_argument(
        "--workers", type=int, default=None, help="DataLoader workers of (b) (default: auditkit's)"
    )
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument(
        "--amp",
        choices=sorted(AMP_DTYPES),
        default="none",
        help="autocast dtype of the forward pass for (a), (b)",
    )
    p.add_argument("--probe-n", type=int, default=20_000, help="rows of the probe comparison (e)")
    p.add_argument(
        "--memory-sizes",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[60, 240],
        help="built-in set sizes of (f), comma-separated (default 60,240)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--skip", action="append", default=[], choices=STEPS, help="leave a step out (repeatable)"
    )
    p.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    if args.memory_child is not None:
        print(
            json.dumps(
                memory_child(args.encoder, args.memory_child, device, args.variants, args.seed)
            )
        )
        return 0
    res: dict[str, Any] = {
        "encoder": args.encoder,
        "machine": machine_info(device),
        "errors": [],
        "variants": [v.id for v in select_variants(args.variants)],
    }
    skip = set(args.skip)
    if not {"forward", "pipeline"} <= skip:
        encoder = build(args.encoder, device, args.seed, args.amp)
        probe = load_probe_set(args.data, seed=args.seed, max_images=args.images)
        variants = select_variants(args.variants)
        res["images"] = len(probe)
        forward, pipeline = forward_and_pipeline(
            encoder,
            probe.images,
            variants,
            None if "forward" in skip else args.batch_sizes,
            args.repeats,
            args.pipeline_batch_size,
            args.workers,
            args.seed,
            run_pipeline="pipeline" not in skip,
        )
        if forward is not None:
            res["forward"] = forward
        if pipeline is not None:
            res["pipeline"] = {**pipeline, "cache_write_ms": cache_write_ms(pipeline["dim"])}
        del encoder
    if "audit" not in skip:
        res["audit"] = audit_benchmark(args.encoder, args.device, args.max_images, args.data)
        if "error" in res["audit"]:
            res["errors"].append(f"pytest audits/: {res['audit']['error']}")
        elif not res["audit"]["embedded_once"]:
            res["errors"].append("forward passes differ from unique cache keys")
    if "probe" not in skip:
        res["probe"] = probe_comparison(
            n=args.probe_n, seed=args.seed, device=device, repeats=args.repeats
        )
    if "memory" not in skip:
        try:
            res["memory"] = peak_memory(
                args.encoder, args.memory_sizes, device, args.variants, args.seed, args.threads
            )
        except RuntimeError as exc:  # a failed child: report it beside what was measured
            res["errors"].append(str(exc))
    res["machine"]["loadavg_end"] = list(os.getloadavg())
    res.update(summary(res))
    print(render_table(res))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=2, default=str) + "\n", encoding="utf-8")
    for err in res["errors"]:
        print(f"error: {err}", file=sys.stderr)
    return 1 if res["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
