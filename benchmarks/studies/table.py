"""The benchmark's headline keys and its plain two-column table."""

from __future__ import annotations

from typing import Any


def summary(res: dict[str, Any]) -> dict[str, Any]:
    """The headline keys of the JSON, from the per-step sections."""
    fwd, pipe = res.get("forward", {}), res.get("pipeline", {})
    audit, probe, mem = res.get("audit", {}), res.get("probe", {}), res.get("memory", {})
    ratio = same = None
    if "pipeline_ips" in pipe and "forward_ips" in fwd:
        ratio = pipe["pipeline_ips"] / fwd["forward_ips"]
        at_batch = fwd["per_batch_size"].get(pipe["effective_batch"])
        same = pipe["pipeline_ips"] / at_batch["ips_median"] if at_batch else None
    # How much of the cold run embedding would take at (b)'s rate (JPEG variants only: a floor).
    embed_s = (
        audit["forward_passes"] / pipe["pipeline_ips"]
        if audit.get("forward_passes") is not None and "pipeline_ips" in pipe
        else None
    )
    return {
        "forward_ips": fwd.get("forward_ips"),
        "pipeline_ips": pipe.get("pipeline_ips"),
        "cold_embed_estimate_s": embed_s,
        "ratio": ratio,
        "ratio_same_batch": same,
        "cold_s": audit.get("cold_s"),
        "warm_s": audit.get("warm_s"),
        "forward_passes": audit.get("forward_passes"),
        "unique_keys": audit.get("unique_keys"),
        "probe_fit_s": probe.get("probe_fit_s"),
        "sklearn_fit_s": probe.get("sklearn_fit_s"),
        "peak_rss_mb": {n: m["peak_rss_mb"] for n, m in mem.items()} or None,
    }


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def render_table(res: dict[str, Any]) -> str:
    """A plain two-column table of what was measured."""
    rows: list[tuple[str, Any]] = [
        ("encoder", res["encoder"]),
        ("device", res["machine"]["device"]),
        (
            "cpus / torch threads",
            f"{res['machine']['cpu_count']} / {res['machine']['torch_threads']}",
        ),
    ]
    fwd = res.get("forward")
    if fwd:
        for bs, r in fwd["per_batch_size"].items():
            rows.append(
                (
                    f"(a) forward img/s, batch {bs}",
                    f"{_fmt(r['ips_median'])} (best {_fmt(r['ips_best'])})",
                )
            )
        st = fwd["stages"]
        rows.append(
            (
                "    CPU stages ms/pair: load, variant, preprocess",
                f"{_fmt(st['load_ms'])}, {_fmt(st['transform_ms'])}, {_fmt(st['preprocess_ms'])}",
            )
        )
    pipe = res.get("pipeline")
    if pipe:
        rows += [
            (
                "(b) pipeline pairs/s",
                f"{_fmt(pipe['pipeline_ips'])} ({pipe['pairs']} pairs, batch "
                f"{pipe['effective_batch']}, {pipe['workers']} workers)",
            ),
            ("    cache write ms/entry", _fmt(pipe["cache_write_ms"])),
        ]
    if res["ratio"] is not None:
        rows.append(("    ratio b / a (best batch)", _fmt(res["ratio"])))
    if res["ratio_same_batch"] is not None:
        rows.append(("    ratio b / a (same batch)", _fmt(res["ratio_same_batch"])))
    audit = res.get("audit")
    if audit and "error" not in audit:
        which = f"{audit['n_images']} images" + ("" if audit["max_images"] else " (full set)")
        rows += [
            (
                "(c) pytest audits/ cold s",
                f"{_fmt(audit['cold_s'])} ({which}; {audit['cold_outcome']})",
            ),
            (
                "    warm s",
                f"{_fmt(audit['warm_s'])} ({audit['warm_extraction']['computed']} embedded, "
                f"{audit['warm_measurements_reused']} measurements read back)",
            ),
            ("    start-up s (--collect-only)", _fmt(audit["startup_s"])),
            ("    cold s embedding at (b)'s rate", _fmt(res["cold_embed_estimate_s"])),
            (
                "(d) forward passes / unique keys",
                f"{audit['forward_passes']} / {audit['unique_keys']}",
            ),
        ]
    elif audit:
        rows.append(("(c) pytest audits/", f"ERROR: {audit['error']}"))
    probe = res.get("probe")
    if probe:
        rows += [
            (
                f"(e) probe fit s, N={probe['n']} D={probe['d']} K={probe['k']}",
                f"auditkit {_fmt(probe['probe_fit_s'])} vs sklearn {_fmt(probe['sklearn_fit_s'])}",
            ),
            (
                "    balanced accuracy",
                f"auditkit {probe['auditkit_acc']:.4f} vs sklearn {probe['sklearn_acc']:.4f}",
            ),
        ]
        if "probe_search_fit_s" in probe:
            rows.append(
                (
                    "    probe with C search s",
                    f"{_fmt(probe['probe_search_fit_s'])} "
                    f"(C={probe['probe_search_C']:g}, acc "
                    f"{probe['probe_search_acc']:.4f})",
                )
            )
    for n, m in (res.get("memory") or {}).items():
        rows.append(
            (
                f"(f) peak RSS MB, {n} images",
                f"{_fmt(m['peak_rss_mb'])} (extraction +"
                f"{_fmt(m['extract_growth_mb'])}, embeddings {_fmt(m['embeddings_mb'])})",
            )
        )
    for err in res["errors"]:
        rows.append(("ERROR", err))
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{name:<{width}}  {_fmt(value)}" for name, value in rows)
