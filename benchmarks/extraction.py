"""Extraction of N (image, variant) pairs, local engine and Ray engine, against the forward limit.

Issue 15, benchmark 5(a). One run measures, with the same encoder:

``forward``  the encoder's own forward throughput on already preprocessed,
             already collated batches of the engines' batch size (the limit);
``local``    ``Extractor.embed`` of all N pairs into a fresh store with the
             local engine (DataLoader workers prepare, this process embeds);
``ray``      the same with the Ray Data engine (CPU tasks prepare, an actor
             pool embeds), on ``RAY_ADDRESS``'s cluster or a local one.

Each engine's throughput is reported as a ratio to the forward limit,
timed for ``--forward-seconds`` just before it and again just after, so
that both see the same machine load; the ratio takes the mean of the two,
and the JSON keeps both. The targets of the issue, at N = 100,000 with a
small encoder: >= 0.9 local, >= 0.8 Ray. The pairs are the JPEG grid's
first ``--variants`` variants of as many built-in images as N needs (240
per seed; further seeds give new pixels, so every pair has its own cache
key).

``--images files`` (the default) writes those images as PNG files into a
temporary folder before any clock starts, and the engines load them from
there, as they load a user's folder. ``--images generated`` loads them as
the built-in set does, by rendering: the renderer keeps only the last 480
images, so past that every load renders its image again (about 7 ms of
FFT noise and resizing), time that a run on files never spends. The runs
before 2026-12-02 afternoon were made that way; at 12,000 pairs rendering
took 17.9 s of the local engine's 96 s (cProfile), which is why their
ratio fell with N.

Usage::

    python benchmarks/extraction.py --pairs 100000 --json out.json
    python benchmarks/extraction.py --pairs 600 --encoder random:timm:test_resnet \\
        --engines local ray --json /tmp/extraction.json

The Ray time includes starting the actor pool (each ``embed`` call starts
its own; the model loads once per actor), but not starting Ray itself.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# ``python benchmarks/extraction.py`` puts this folder on sys.path: the studies sit beside it.
from studies.forward import forward_throughput, preprocess_all
from studies.inputs import build

from auditkit.allocator import retain_freed_memory
from auditkit.backends.ray_data import RayDataBackend
from auditkit.cache import EmbeddingCache
from auditkit.data import builtin_probe_set
from auditkit.data.base import SourceImage
from auditkit.data.folder import folder_probe_set
from auditkit.device import pick_device
from auditkit.encoders import LoadOptions
from auditkit.encoders.base import Encoder
from auditkit.extract import Extractor
from auditkit.provenance import machine_info
from auditkit.transforms.base import Variant
from auditkit.transforms.quality import jpeg_grid

ENGINES = ("local", "ray")
#: Pairs preprocessed for the forward limit (their batches repeat to fill a pass).
FORWARD_ITEMS = 256


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--pairs", type=int, default=100_000, metavar="N",
                   help="(image, variant) pairs to extract (default 100000)")
    p.add_argument("--encoder", default="random:timm:resnet18", metavar="SPEC",
                   help="a small encoder (default random:timm:resnet18)")
    p.add_argument("--variants", type=int, default=5, metavar="V",
                   help="JPEG-grid variants per image (default 5)")
    p.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    p.add_argument("--device", default=None, help="torch device (default: cuda if available)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="pairs per forward pass of both engines (default: the encoder's)")
    p.add_argument("--workers", type=int, default=None,
                   help="DataLoader workers of the local engine (default: auditkit's)")
    p.add_argument("--actors", type=int, default=None,
                   help="encoder actors of the Ray engine (default: auditkit's)")
    p.add_argument("--ray-cpus", type=int, default=None,
                   help="CPUs of the local Ray instance (default: all; ignored with RAY_ADDRESS)")
    p.add_argument("--images", choices=("files", "generated"), default="files",
                   help="load the images from PNG files written first (default), or render "
                        "them as the built-in set does (past 480 images, again at every load)")
    p.add_argument("--forward-seconds", type=float, default=20.0, metavar="S",
                   help="time the forward limit for at least S seconds, before and after "
                        "each engine (default 20)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, metavar="PATH", help="write the results here")
    args = p.parse_args(argv)
    if args.pairs < 1 or args.variants < 1:
        p.error(f"--pairs={args.pairs} and --variants={args.variants}: expected >= 1 each")
    return args


def pairs_of(n: int, variants: int, seed: int = 0, folder: Path | None = None
             ) -> tuple[list[SourceImage], list[Variant]]:
    """Built-in images and JPEG variants making at least ``n`` pairs, each with its own key.

    With ``folder``, the images are written there as PNG files (one class
    subfolder each) and come back as that folder's probe set: loading one
    decodes its file instead of rendering it again.

    Examples
    --------
    >>> images, variants = pairs_of(7, 3)
    >>> len(images), [v.id for v in variants][:1]
    (3, ['jpeg/q75-420'])
    """
    grid = jpeg_grid()
    if variants > len(grid):
        raise SystemExit(f"--variants={variants}: the JPEG grid has {len(grid)}")
    chosen = grid[:variants]
    wanted = -(-n // variants)
    images: list[SourceImage] = []
    while len(images) < wanted:
        more = builtin_probe_set(seed=seed + len(images) // 240,
                                 max_images=min(240, wanted - len(images))).images
        images.extend(more)
    if folder is None:
        return images, chosen
    for image in images:
        # The image's sha256 in the name: the seeds' images share ids.
        path = folder / image.label / f"{image.sha256[:16]}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        image.load().save(path)
    return folder_probe_set(folder).images, chosen


def forward_limit(encoder: Encoder, items: list[Any], batch_size: int, seconds: float) -> float:
    """Pairs per second of the encoder's forward pass alone, at ``batch_size``.

    The median of passes over ``items`` lasting ``seconds`` in all (at least
    three): three passes of 256 pairs, under two seconds on this machine,
    read from 228 to 575 pairs/s within one afternoon.
    """
    return float(forward_throughput(encoder, items, [batch_size], repeats=3,
                                     min_seconds=seconds)["forward_ips"])


def extract(encoder: Encoder, engine: str, images: Sequence[SourceImage],
            variants: Sequence[Variant], args: argparse.Namespace) -> dict[str, Any]:
    """Wall time of one cold extraction of every pair into a fresh store."""
    with tempfile.TemporaryDirectory(prefix="auditkit-bench-") as tmp:
        if engine == "ray":
            backend = RayDataBackend(args.batch_size, LoadOptions(seed=args.seed),
                                     actors=args.actors)
            extractor = Extractor(encoder, EmbeddingCache(tmp), seed=args.seed, backend=backend)
        else:
            extractor = Extractor(encoder, EmbeddingCache(tmp), batch_size=args.batch_size,
                                  num_workers=args.workers, seed=args.seed)
        t0 = time.perf_counter()
        table = extractor.embed(images, variants)
        seconds = time.perf_counter() - t0
    pairs = len(images) * len(variants)
    if extractor.stats.computed != pairs:
        raise RuntimeError(f"{engine}: computed {extractor.stats.computed} of {pairs} pairs; "
                           f"failures {extractor.stats.failed[:3]!r}")
    return {"pairs": pairs, "seconds": seconds, "pairs_per_s": pairs / seconds,
            "dim": int(table.X.shape[1])}


def start_ray(cpus: int | None) -> None:
    """Join ``RAY_ADDRESS``'s cluster, or start a local instance, before any clock starts."""
    import ray

    if os.environ.get("RAY_ADDRESS"):
        ray.init(log_to_driver=False)
    else:
        ray.init(address="local", num_cpus=cpus or os.cpu_count(), include_dashboard=False,
                 log_to_driver=False)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # What an audit session does when it starts: the local engine is measured as
    # a run would use it (the 100,000-pair run of 2026-12-02 was made without it).
    retained = retain_freed_memory()
    device = pick_device(args.device)
    encoder = build(args.encoder, device, args.seed)
    batch_size = args.batch_size or encoder.default_batch_size
    files = (tempfile.TemporaryDirectory(prefix="auditkit-bench-images-")
             if args.images == "files" else None)
    t0 = time.perf_counter()
    images, variants = pairs_of(args.pairs, args.variants, args.seed,
                                Path(files.name) if files else None)
    prepared = time.perf_counter() - t0
    sample = images[: max(1, FORWARD_ITEMS // len(variants))]
    items, _ = preprocess_all(encoder, sample, variants, args.seed)
    res: dict[str, Any] = {
        "encoder": args.encoder, "pairs": len(images) * len(variants),
        "images": len(images), "variants": [v.id for v in variants],
        "batch_size": batch_size, "machine": machine_info(device), "engines": {},
        "images_from": args.images, "images_prepared_s": prepared,
        "retain_freed_memory": retained,
    }
    try:
        for engine in args.engines:
            if engine == "ray":
                # Started here, not earlier: its idle workers would share the
                # CPUs with the local engine's run.
                start_ray(args.ray_cpus)
            before = forward_limit(encoder, items, batch_size, args.forward_seconds)
            run = extract(encoder, engine, images, variants, args)
            after = forward_limit(encoder, items, batch_size, args.forward_seconds)
            # Before and after the engine: a machine that changed speed while
            # it ran shows as two limits apart, and the ratio takes their mean.
            limit = (before + after) / 2
            run.update(forward_pairs_per_s=limit, forward_before=before, forward_after=after,
                       ratio=run["pairs_per_s"] / limit)
            res["engines"][engine] = run
            print(f"{engine}: {run['pairs']} pairs in {run['seconds']:.1f} s, "
                  f"{run['pairs_per_s']:.1f} pairs/s; forward limit {limit:.1f}/s "
                  f"({before:.1f} before, {after:.1f} after); "
                  f"ratio {run['ratio']:.3f}", file=sys.stderr)
    finally:
        if files is not None:
            files.cleanup()
        if "ray" in sys.modules:
            import ray

            ray.shutdown()
    res["machine"]["loadavg_end"] = list(os.getloadavg())
    text = json.dumps(res, indent=2, default=str)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
