#!/usr/bin/env bash
# Issue 15, benchmark 5(c): auditkit on one accelerator, in under 8 minutes.
#
# Measures, with benchmarks/pipeline.py:
#   1. ViT-B-32's forward limit against extraction, bf16 (target ratio >= 0.85);
#   2. the default audits (pytest audits/), cold then warm, on the GPU;
#   3. the probe fit (N=20,000, D=768, K=6) on the GPU and on the CPU.
# and prints the figures as Markdown rows to paste into benchmarks/RESULTS.md.
#
# Usage:  bash benchmarks/gpu.sh [--dry-run]
#   --dry-run   run what needs no GPU at small sizes (the CPU probe fit, the
#               argument checks of the GPU steps, the summary) and skip the rest;
#               the test suite runs it (tests/benchmarks/test_gpu.py).
# Environment: PYTHON (default python), ENCODER (default random:open_clip:ViT-B-32,
# random weights: the machine needs no download), GPU_BENCH_DIR (where the JSON goes;
# default $OUT/gpu-bench where $OUT is set, else a new temporary folder).
# Each step has a time limit; one that runs over is reported as such and the rest go on.
set -uo pipefail

DRY=0
case "${1:-}" in
  --dry-run) DRY=1 ;;
  "") ;;
  *) echo "usage: $0 [--dry-run]" >&2; exit 2 ;;
esac

PY=${PYTHON:-python}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ENCODER=${ENCODER:-random:open_clip:ViT-B-32}
DIR=${GPU_BENCH_DIR:-${OUT:+$OUT/gpu-bench}}
DIR=${DIR:-$(mktemp -d)}
mkdir -p "$DIR"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
cd "$ROOT" || exit 1

if [ "$DRY" = 1 ]; then
  PROBE_N=300; CPU_LIMIT=120
else
  PROBE_N=20000; CPU_LIMIT=70
fi
CUDA=$("$PY" -c "import torch; print(int(torch.cuda.is_available()))") || exit 1
if [ "$DRY" = 0 ] && [ "$CUDA" != 1 ]; then
  echo "gpu.sh: torch sees no CUDA device; run with --dry-run on a machine without one" >&2
  exit 2
fi

# name, time limit (s), pipeline.py arguments
EXTRACTION=(--encoder "$ENCODER" --device cuda --amp bf16 --images 240 --variants all
            --batch-sizes 64,128,256,512 --repeats 3
            --skip audit --skip probe --skip memory --json "$DIR/extraction.json")
AUDIT=(--encoder "$ENCODER" --device cuda
       --skip forward --skip pipeline --skip probe --skip memory --json "$DIR/audit.json")
PROBE_GPU=(--encoder "$ENCODER" --device cuda --probe-n "$PROBE_N" --repeats 3
           --skip forward --skip pipeline --skip audit --skip memory --json "$DIR/probe_cuda.json")
PROBE_CPU=(--encoder "$ENCODER" --device cpu --probe-n "$PROBE_N" --repeats 1
           --skip forward --skip pipeline --skip audit --skip memory --json "$DIR/probe_cpu.json")

step() {  # step NAME LIMIT NEEDS_CUDA ARGS...
  local name=$1 limit=$2 cuda=$3; shift 3
  if [ "$cuda" = 1 ] && [ "$DRY" = 1 ]; then
    # Not run, but its arguments are checked: a typo shows here, not on the lent machine.
    if "$PY" -c 'import sys; sys.path.insert(0, "benchmarks"); import pipeline
pipeline.parse_args(sys.argv[1:])' "$@"; then
      echo "gpu.sh: $name skipped (needs cuda; --dry-run), arguments checked"
    else
      echo "gpu.sh: $name has arguments pipeline.py refuses" >&2; return 1
    fi
    return 0
  fi
  local t0=$SECONDS
  timeout "$limit" "$PY" benchmarks/pipeline.py "$@" > "$DIR/$name.log" 2>&1
  local rc=$?
  echo "gpu.sh: $name exit $rc in $((SECONDS - t0)) s (limit $limit s; log $DIR/$name.log)"
  [ "$rc" = 124 ] && echo "timed out" > "$DIR/$name.timeout"
  return 0
}

STATUS=0
step extraction 150 1 "${EXTRACTION[@]}" || STATUS=1
step audit 210 1 "${AUDIT[@]}" || STATUS=1
step probe_cuda 60 1 "${PROBE_GPU[@]}" || STATUS=1
step probe_cpu "$CPU_LIMIT" 0 "${PROBE_CPU[@]}" || STATUS=1

"$PY" - "$DIR" "$DRY" <<'PYEOF' || STATUS=1
"""The figures as Markdown rows for benchmarks/RESULTS.md."""
import datetime
import json
import sys
from pathlib import Path

folder, dry = Path(sys.argv[1]), sys.argv[2] == "1"


def load(name):
    path = folder / f"{name}.json"
    if path.exists():
        return json.loads(path.read_text())
    why = "timed out" if (folder / f"{name}.timeout").exists() else "not run"
    return {"missing": why + (" (--dry-run)" if dry and why == "not run" else "")}


def fmt(x, digits=3):
    return "—" if x is None else f"{x:.{digits}g}" if isinstance(x, float) else str(x)


ext, audit, gpu, cpu = (load(n) for n in ("extraction", "audit", "probe_cuda", "probe_cpu"))
machine = next((r["machine"] for r in (ext, audit, gpu, cpu) if "machine" in r), {})
print(f"## {datetime.date.today()} · issue 15, 5(c): benchmarks/gpu.sh"
      f"{' --dry-run' if dry else ''} · {machine.get('device', '?')}, "
      f"{machine.get('cpu_count', '?')} CPUs")
print()
print("| measure | figure |")
print("|---|---|")
if "missing" in ext:
    print(f"| ViT-B-32 bf16: forward limit / extraction | {ext['missing']} |")
else:
    best = max(ext["forward"]["per_batch_size"].items(), key=lambda kv: kv[1]["ips_median"])
    pipe = ext["pipeline"]
    print(f"| {ext['encoder']} bf16 forward limit, img/s | {fmt(ext['forward_ips'])} "
          f"(best batch {best[0]}) |")
    print(f"| extraction pairs/s ({pipe['pairs']} pairs, batch {pipe['effective_batch']}, "
          f"{pipe['workers']} workers) | {fmt(ext['pipeline_ips'])} |")
    ok = ext["ratio"] is not None and ext["ratio"] >= 0.85
    print(f"| ratio extraction / forward (target >= 0.85) | {fmt(ext['ratio'])} "
          f"({'met' if ok else 'not met'}; same batch {fmt(ext['ratio_same_batch'])}) |")
if "missing" in audit:
    print(f"| default audits cold / warm | {audit['missing']} |")
elif "error" in audit.get("audit", {}):
    print(f"| default audits cold / warm | error: {audit['audit']['error'][:200]!r} |")
else:
    a = audit["audit"]
    print(f"| pytest audits/ ({audit['encoder']}, {a['n_images']} images) cold s | "
          f"{fmt(a['cold_s'])} ({a['cold_outcome']}) |")
    print(f"| warm s | {fmt(a['warm_s'])} (start-up {fmt(a['startup_s'])}) |")
for name, res in (("GPU", gpu), ("CPU", cpu)):
    if "missing" in res:
        print(f"| probe fit on the {name} | {res['missing']} |")
        continue
    p = res["probe"]
    print(f"| probe fit on the {name}, N={p['n']} D={p['d']} K={p['k']}: C=1 s / C search s "
          f"| {fmt(p['probe_fit_s'])} / {fmt(p.get('probe_search_fit_s'))} "
          f"(balanced accuracy {p['auditkit_acc']:.4f}) |")
if "missing" not in gpu and "missing" not in cpu:
    print(f"| probe fit speed-up GPU / CPU (C=1) | "
          f"{fmt(cpu['probe']['probe_fit_s'] / gpu['probe']['probe_fit_s'])} |")
PYEOF
exit $STATUS
