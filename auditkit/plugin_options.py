"""The plugin's command-line options, and which of them a run was given.

pytest imports the plugin in every run of an environment where auditkit is
installed, audits or not, so this module imports nothing beyond the standard
library: the options' help and choices must not cost numpy or torch. An
option that differs from its default makes a run an auditkit run (see
:func:`given_options`), which is one of the two things that wake the plugin.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: What an inconclusive case becomes in pytest.
INCONCLUSIVE_OUTCOMES = ("skip", "fail")
#: Precisions of ``--audit-amp`` (kept in step with ``torch_encoder.AMP_DTYPES`` by a test).
AMP_CHOICES = ("none", "bf16", "fp16")
#: Extraction engines of ``--audit-engine`` (and ``engine`` in ``[tool.auditkit]``).
ENGINE_CHOICES = ("local", "ray")

#: Every option of the ``auditkit`` group: its flag and the keywords of ``addoption``.
OPTIONS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("--encoder", dict(
        action="append", default=None, metavar="SPEC",
        help="encoder to audit (repeatable); default: [tool.auditkit] encoders.")),
    ("--audit-reference", dict(
        action="append", default=None, metavar="SPEC",
        help="reference encoder (repeatable), audited alongside; its failures are "
             "expected (xfail); default: [tool.auditkit] references, which stay with "
             "--encoder; 'none' drops them.")),
    ("--audit-data", dict(
        default=None, metavar="PATH",
        help="probe images: a folder or a CSV manifest; default: the built-in set.")),
    ("--audit-report-dir", dict(
        default="reports/out", metavar="DIR",
        help="where results.json and card.html go, one folder per encoder.")),
    ("--audit-cache-dir", dict(
        default=None, metavar="DIR",
        help="embedding cache directory; default: the user cache dir.")),
    ("--audit-no-cache", dict(
        action="store_true", default=False,
        help="do not read or write the embedding cache on disk.")),
    ("--audit-baseline", dict(
        default=None, metavar="PATH",
        help="results.json of the base model of the audited encoders, or a report "
             "dir with one <slug>/results.json per encoder: a case fails when it "
             "leaks more than the baseline beyond the tolerance.")),
    ("--audit-baseline-tolerance", dict(
        type=float, default=None, metavar="X",
        help="allowed rise over the baseline (default: [tool.auditkit] "
             "baseline_tolerance, else 0.05).")),
    ("--audit-baseline-allow-mismatch", dict(
        action="store_true", default=False,
        help="compare with a baseline made with another probe set, seed, max-images, "
             "settings, auditkit version or encoder; the card and summary say so.")),
    ("--audit-base", dict(
        default=None, metavar="SPEC",
        help="base encoder measured in this same run, on the same images, as a "
             "reference: each audited encoder's case fails when it leaks more than "
             "the base's beyond the tolerance (instead of --audit-baseline).")),
    ("--audit-update-baseline", dict(
        action="store_true", default=False,
        help="write this run's results to --audit-baseline.")),
    ("--audit-device", dict(
        default=None, metavar="DEVICE",
        help="torch device (cpu, cuda, cuda:1); default: cuda when available.")),
    ("--audit-amp", dict(
        choices=AMP_CHOICES, default="none",
        help="autocast the forward pass of torch encoders (default: none). "
             "Reduced-precision embeddings get their own cache entries.")),
    ("--audit-seed", dict(
        type=int, default=None, metavar="N",
        help="seed of the data: built-in images, file subsets, transforms, random "
             "weights (default: [tool.auditkit] seed, else 0).")),
    ("--audit-split-seed", dict(
        type=int, default=None, metavar="N",
        help="seed of splits, probe folds, bootstraps and random controls; another "
             "value re-draws them on the same data and embeddings (default: "
             "[tool.auditkit] split_seed, else the seed).")),
    ("--audit-profile", dict(
        default=None, metavar="NAME",
        help="quick (default: 120 of the built-in set's 240 images, the first run in "
             "minutes) or full (every image, the papers' protocol); default: "
             "[tool.auditkit] profile.")),
    ("--audit-max-images", dict(
        type=int, default=None, metavar="N",
        help="use at most N source images (class-balanced); overrides the profile.")),
    ("--audit-workers", dict(
        type=int, default=None, metavar="N",
        help="DataLoader workers for decoding and preprocessing.")),
    ("--audit-batch-size", dict(
        type=int, default=None, metavar="N",
        help="images per forward pass; default: the encoder's.")),
    ("--audit-engine", dict(
        choices=ENGINE_CHOICES, default=None,
        help="where misses are embedded: local (this process) or ray (a Ray Data "
             "pipeline, on RAY_ADDRESS's cluster or a local one; needs "
             "pytest-auditkit[ray]); default: [tool.auditkit] engine, else local.")),
    ("--audit-inconclusive", dict(
        choices=INCONCLUSIVE_OUTCOMES, default="skip",
        help="pytest outcome of an inconclusive case (default: skip).")),
    ("--audit-camera-level", dict(
        default=None, metavar="LEVEL",
        help="camera classes of the camera audits: auto (model when two models have "
             "enough photos, else make), model, make or smartphone (default: "
             "[tool.auditkit.camera] level, else auto).")),
    ("--audit-camera-min-per-class", dict(
        type=int, default=None, metavar="N",
        help="photos a camera class needs to be kept (default: [tool.auditkit.camera] "
             "min_per_class, else 10).")),
    ("--audit-template-dir", dict(
        default=None, metavar="DIR",
        help="templates overriding the stock card partials.")),
)


def dest(flag: str) -> str:
    """The attribute of ``config.option`` that holds ``flag``: ``--audit-amp`` -> ``audit_amp``."""
    return flag.removeprefix("--").replace("-", "_")


def given_options(values: Mapping[str, Any]) -> list[str]:
    """The auditkit options among ``values`` (``vars(config.option)``) not at their default.

    Examples
    --------
    >>> given_options({"encoder": ["pixels"], "audit_amp": "none"})
    ['--encoder']
    """
    return [flag for flag, keywords in OPTIONS
            if values.get(dest(flag), keywords["default"]) != keywords["default"]]
