"""The ``auditkit`` command.

::

    auditkit encoders            list the aliases and spec forms
    auditkit init [DIR]          write the stock audits/ and a [tool.auditkit] block
    auditkit cache info|verify|compact|clear
                                 inspect, check every entry, merge small shards (and move
                                 an old file-per-entry cache into shards), or empty the cache
    auditkit compare BASE CAND   compare two results.json; exit 1 on a regression, an
                                 unmeasured or missing case (--strict: inconclusive too)
    auditkit report PATH...      re-render cards and the index from results.json files
    auditkit mitigate --encoder SPEC --erase TRACES
                                 fit an eraser for the traces on half the groups, write it,
                                 and compare the audits before and after on the other half
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from auditkit.errors import AuditkitError
from auditkit.layout import ReportLayout
from auditkit.scaffold import init_project


def _cmd_encoders(args: argparse.Namespace) -> int:
    from auditkit.encoders import list_aliases, list_forms

    print("aliases:")
    for name, target, description in list_aliases():
        print(f"  {name:<15} {target:<50} {description}")
    print("spec forms:")
    for form in list_forms():
        print(f"  {form}")
    print("  random:SPEC                 "
          "same architecture and preprocessing, seeded random weights")
    print("  SPEC@PATH                   local weights (safetensors or a weights-only torch file)")
    return 0


def _cmd_init(args: argparse.Namespace) -> int:
    for line in init_project(Path(args.dir), force=args.force):
        print(line)
    return 0


def _cmd_cache(args: argparse.Namespace) -> int:
    from auditkit.cache import EmbeddingCache, default_cache_dir

    verify = args.verify or args.action == "verify"
    try:
        cache = EmbeddingCache(args.cache_dir or default_cache_dir())
        if args.action == "clear":
            removed = cache.clear(args.fingerprint)
            print(f"removed {removed} entries from {cache.url}")
            return 0
        print(f"cache: {cache.url}")
        swept = cache.sweep(args.fingerprint)
        if swept:
            print(f"  removed {swept} temporary file(s) left by interrupted writes")
        corrupt = cache.verify(args.fingerprint) if verify else []
        if args.action == "compact":
            for fp, (before, after) in cache.compact(args.fingerprint).items():
                print(f"  {fp}  compacted {before} shard(s) into {after}")
        info = cache.info()
    except AuditkitError as exc:
        print(f"auditkit cache: {exc}", file=sys.stderr)
        return 2
    if not info:
        print("  empty")
    for fp, row in info.items():
        line = (f"  {fp}  {row['entries']:>8} entries  {row['bytes'] / 1e6:>9.2f} MB"
                f"  {row['shards']} shard(s)")
        if row["legacy"]:
            line += f", {row['legacy']} in old entry files ('compact' moves them)"
        if row.get("newer_format"):
            line += (f", {row['newer_format']} in a newer auditkit's format (left alone; "
                     "upgrade auditkit to read them)")
        if row["temporary"]:
            line += f"  ({row['temporary']} write(s) in progress)"
        print(line)
    if verify:
        print(f"  verified every entry: {len(corrupt)} corrupt, removed (recomputed when needed)")
        for path in corrupt[:20]:
            print(f"    {path}")
    return 0


def _run_mismatches(base: dict, cand: dict) -> list[str]:
    """How two results.json differ in what makes their cases comparable (same rules as
    ``--audit-baseline``: probe set, seeds, max-images, settings, version, architecture)."""
    from auditkit.baseline import architecture, comparable_mismatches

    here = cand["provenance"].get("comparable")
    if not isinstance(here, dict):
        return ["the candidate records no comparable settings (written by an older auditkit)"]
    out = comparable_mismatches(base["provenance"].get("comparable"), here)
    arch = [str(d["encoder"].get("architecture") or architecture(d["encoder"]["spec"]))
            for d in (base, cand)]
    if arch[0] != arch[1]:
        out.append(f"encoder: base architecture {arch[0]!r}, candidate {arch[1]!r}")
    return out


def _cmd_compare(args: argparse.Namespace) -> int:
    from auditkit.compare import compare_results, comparison_lines, gate_failures, results_of
    from auditkit.config import baseline_tolerance, load_config
    from auditkit.results import load_document, write_json_atomic

    try:
        base, cand = load_document(Path(args.base)), load_document(Path(args.candidate))
        tolerance = (args.tolerance if args.tolerance is not None
                     else baseline_tolerance(load_config(Path.cwd())))
    except (ValueError, AuditkitError) as exc:
        print(f"auditkit compare: {exc}", file=sys.stderr)
        return 2
    mismatches = _run_mismatches(base, cand)
    if mismatches and not args.allow_mismatch:
        print("auditkit compare: the two results were not made alike, so their cases do not "
              "compare:\n  " + "\n  ".join(mismatches) + "\nmeasure both the same way, or pass "
              "--allow-mismatch to compare anyway", file=sys.stderr)
        return 2
    comparisons = compare_results(results_of(base), results_of(cand), tolerance)
    print(f"base:      {base['encoder']['spec']} ({args.base})")
    for line in mismatches:
        print(f"WARNING (--allow-mismatch): {line}")
    print(f"candidate: {cand['encoder']['spec']} ({args.candidate})")
    print(f"tolerance: {tolerance:g}")
    for line in comparison_lines(comparisons):
        print(line)
    if args.json:
        write_json_atomic(Path(args.json), {
            "base": args.base, "candidate": args.candidate, "tolerance": tolerance,
            "comparisons": [c.to_json() for c in comparisons],
        })
    failures = gate_failures(comparisons, strict=args.strict)
    for reason in failures:
        print(f"gate fails: {reason}", file=sys.stderr)
    return 1 if failures else 0


def _results_files(paths: Sequence[str]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        files.extend(ReportLayout(path).all_results() if path.is_dir() else [path])
    return files


def _cmd_report(args: argparse.Namespace) -> int:
    import os

    from auditkit.report import write_card, write_index
    from auditkit.results import load_document

    files = _results_files(args.paths)
    if not files:
        print(f"auditkit report: no results.json in {', '.join(args.paths)}", file=sys.stderr)
        return 2
    template_dir = Path(args.template_dir) if args.template_dir else None
    entries, failed = [], 0
    for path in files:
        try:
            doc = load_document(path)
            card = write_card(doc, path.parent, template_dir)
        except (ValueError, OSError) as exc:
            # One bad file must not cost the others their cards.
            print(f"auditkit report: {exc}", file=sys.stderr)
            failed += 1
            continue
        entries.append((doc, card))
        print(f"card:  {card}")
    if entries:
        out = Path(args.out) if args.out else Path(
            os.path.commonpath([card.parent.parent.resolve() for _, card in entries]))
        print(f"index: {write_index(out, entries, template_dir)}")
    return 1 if failed else 0


def _cmd_mitigate(args: argparse.Namespace) -> int:
    from auditkit import erasure
    from auditkit.allocator import retain_freed_memory
    from auditkit.cache import EmbeddingCache, default_cache_dir
    from auditkit.data import load_probe_set
    from auditkit.encoders import build_encoder, parse_spec
    from auditkit.extract import Extractor
    from auditkit.report.render import render_mitigation
    from auditkit.results import write_json_atomic, write_text_atomic

    try:
        traces = erasure.parse_traces(args.erase)
        erasure.parse_stages(args.stages)
        spec = parse_spec(args.encoder)
        if spec.erase_path:
            raise AuditkitError(f"--encoder {args.encoder!r} is erased already: pass its base "
                                f"spec {spec.without_eraser().raw!r} and name every trace in "
                                "--erase")
        retain_freed_memory()
        encoder = build_encoder(spec).to(args.device)
        cache = None if args.no_cache else EmbeddingCache(args.cache_dir or default_cache_dir())
        extractor = Extractor(encoder, cache=cache, seed=args.seed)
        probe_set = load_probe_set(args.audit_data, seed=args.seed, max_images=args.max_images)
        source = {"spec": spec.raw, "canonical": spec.canonical,
                  "fingerprint": encoder.fingerprint}
        eraser = erasure.fit_eraser(extractor, probe_set, traces, source=source,
                                    seed=args.seed, options=_audit_tables(args),
                                    per_class=args.per_class, stages=args.stages)
        out = Path(args.out or f"{_slug(spec.raw)}-erase-{'-'.join(traces)}.safetensors")
        eraser.save(out)
        print(f"eraser: {out} (rank {eraser.raw.rank} + {eraser.normalised.rank}, "
              f"D {eraser.dim}, fitted on {len(eraser.fitted_groups)} groups)")
        print(f"audit it as: pytest audits/ --encoder='{spec.raw}+erase:{out}'")
        if args.no_compare:
            return 0
        rows = erasure.compare(extractor, eraser, probe_set, seed=args.seed)
    except AuditkitError as exc:
        print(f"auditkit mitigate: {exc}", file=sys.stderr)
        return 2
    held = len({im.group for im in erasure.held_out(probe_set, eraser).images})
    for line in erasure.comparison_lines(rows, eraser, held):
        print(line)
    doc = erasure.mitigation_document(spec.raw, out, eraser, rows, held)
    if args.json:
        write_json_atomic(Path(args.json), doc)
    card = Path(args.card) if args.card else out.with_suffix(".html")
    write_text_atomic(card, render_mitigation(doc))
    print(f"card: {card}")
    return 0


def _audit_tables(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The project's ``[tool.auditkit.camera]`` (from the current directory), options over it.

    The eraser labels a trace as the project's audits label it, or it would
    erase other classes than the ones the card found.
    """
    from auditkit.config import read_table
    from auditkit.measures.camera_model import camera_table

    camera = camera_table(read_table(Path.cwd()).get("camera", {}), args.camera_level,
                          args.camera_min_per_class)
    return {"camera": camera} if camera else {}


def _slug(spec: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in spec).strip("-")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="auditkit", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("encoders", help="list encoder aliases and spec forms")
    p.set_defaults(fn=_cmd_encoders)
    p = sub.add_parser("init", help="write the stock audits and a [tool.auditkit] block")
    p.add_argument("dir", nargs="?", default=".", help="project directory (default: .)")
    p.add_argument("--force", action="store_true", help="overwrite existing audit files")
    p.set_defaults(fn=_cmd_init)
    p = sub.add_parser("cache", help="inspect, verify, compact or clear the embedding cache")
    p.add_argument("action", choices=("info", "verify", "compact", "clear"))
    p.add_argument("--cache-dir", default=None,
                   help="cache directory or fsspec URL, e.g. s3://bucket/auditkit "
                        "(default: user cache)")
    p.add_argument("--fingerprint", default=None, help="only this encoder's entries")
    p.add_argument("--verify", action="store_true",
                   help="read every entry and remove those that fail their checksum "
                        "(what 'verify' does)")
    p.set_defaults(fn=_cmd_cache)
    p = sub.add_parser("compare", help="compare a candidate's results.json with its base's")
    p.add_argument("base", help="results.json of the base model")
    p.add_argument("candidate", help="results.json of the candidate (e.g. a fine-tune)")
    p.add_argument("--tolerance", type=float, default=None,
                   help="allowed rise of leakage (default: [tool.auditkit] baseline_tolerance, "
                        "else 0.05)")
    p.add_argument("--json", default=None, metavar="PATH", help="also write the comparison")
    p.add_argument("--strict", action="store_true",
                   help="also exit 1 when a comparison is inconclusive")
    p.add_argument("--allow-mismatch", action="store_true",
                   help="compare results made on other images, seeds, settings, auditkit "
                        "versions or architectures (warns instead of exit status 2)")
    p.set_defaults(fn=_cmd_compare)
    p = sub.add_parser("report", help="re-render cards and the index from results.json files")
    p.add_argument("paths", nargs="+",
                   help="results.json files, or report dirs holding <slug>/results.json")
    p.add_argument("--out", default=None,
                   help="where index.html goes (default: the report dir the results share)")
    p.add_argument("--template-dir", default=None, help="templates overriding the stock ones")
    p.set_defaults(fn=_cmd_report)
    p = sub.add_parser("mitigate", help="fit a LEACE eraser for found traces and compare the "
                                        "audits before and after on held-out groups")
    p.add_argument("--encoder", required=True, help="encoder spec, e.g. pixels or clip")
    p.add_argument("--erase", required=True, metavar="TRACES",
                   help="comma-separated audits whose classes to erase: "
                        "jpeg_quality, camera_model")
    p.add_argument("--audit-data", default=None, metavar="PATH",
                   help="probe set: a folder or a CSV manifest (default: the built-in set)")
    p.add_argument("--out", default=None, metavar="PATH",
                   help="where the eraser goes (default: <spec>-erase-<traces>.safetensors)")
    p.add_argument("--max-images", type=int, default=None, help="use at most this many images")
    p.add_argument("--seed", type=int, default=0,
                   help="run seed: the images, and the fit / held-out split of the groups")
    p.add_argument("--device", default="cpu", help="torch device of the encoder")
    p.add_argument("--cache-dir", default=None, help="embedding cache (default: user cache)")
    p.add_argument("--no-cache", action="store_true", help="keep embeddings in memory only")
    p.add_argument("--no-compare", action="store_true",
                   help="only fit and write the eraser")
    p.add_argument("--per-class", action="store_true",
                   help="erase each trace within every semantic class of the probe set "
                        "(rank classes x (settings - 1)): for traces that differ by content")
    p.add_argument("--stages", default="both", metavar="{both,raw,normalised}",
                   help="fit LEACE on the encoder's rows and then on their L2-normalised rows "
                        "(both, the default), or on one of them only: one stage changes fewer "
                        "directions, two remove a trace that adds to the rows")
    p.add_argument("--json", default=None, metavar="PATH",
                   help="also write the before / after comparison")
    p.add_argument("--camera-level", default=None, metavar="LEVEL",
                   help="camera classes erased (auto, make, model, smartphone; default: "
                        "[tool.auditkit.camera] level, else auto), as --audit-camera-level")
    p.add_argument("--camera-min-per-class", type=int, default=None, metavar="N",
                   help="photos a camera class needs (default: [tool.auditkit.camera] "
                        "min_per_class, else 10), as --audit-camera-min-per-class")
    p.add_argument("--card", default=None, metavar="PATH",
                   help="where the before / after card goes (default: the eraser's path "
                        "with .html)")
    p.set_defaults(fn=_cmd_mitigate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.fn(args))


if __name__ == "__main__":
    sys.exit(main())
