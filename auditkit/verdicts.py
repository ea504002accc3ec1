"""Thresholds and the verdict rules.

A case passes, fails or is inconclusive by its interval, not only its point:

``max`` thresholds (an invariance, e.g. ``max_leakage``)
    fail          the whole interval lies above the threshold;
    pass          the whole interval lies at or below it, an effect of the
                  threshold's size would have been told apart from this
                  measurement (``detectable`` at or below the threshold), and
                  the probe is not degenerate;
    inconclusive  otherwise (the reason says which rule held it back).

``min`` thresholds (a capability, e.g. ``min_accuracy``)
    pass          the whole interval lies at or above the threshold and the
                  probe is not degenerate;
    fail          the whole interval lies below it and an effect of the
                  threshold's size would have been told apart here;
    inconclusive  otherwise.

So a pass means: a threshold-sized effect would have been detected here. A
probe reads less than the embedding holds (at D = 768 and 240 images a
leakage of 0.15 reads as about 0.08), so for probe audits ``detectable`` is
measured, not assumed: a leakage planted into the run's own embeddings and
probed the same way bounds what a threshold-sized one reads as
(:mod:`auditkit.power`). ``detectable`` is an effect over chance; for an
``accuracy`` threshold it is compared as ``chance + detectable``.

What pytest makes of a verdict is :func:`decide`, a pure function of the
verdict, the comparison with a baseline and the run's policy; the plugin only
maps its answer to pytest. Every case is recorded, whatever its outcome,
before pytest is told, so ``results.json`` and the card hold them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from auditkit.compare import Comparison
from auditkit.errors import ConfigError
from auditkit.results import AuditResult

#: Threshold names accepted in ``[tool.auditkit.thresholds.AUDIT]``: (metric, direction).
THRESHOLD_KINDS: dict[str, tuple[str, str]] = {
    "max_leakage": ("leakage", "max"),
    "min_leakage": ("leakage", "min"),
    "max_accuracy": ("accuracy", "max"),
    "min_accuracy": ("accuracy", "min"),
    "max_delta": ("delta", "max"),
}


@dataclass
class Measurement:
    """What an audit measured, in the units of ``metric``."""

    metric: str
    value: float
    ci: tuple[float, float]
    chance: float | None
    n: int
    detectable: float | None = None
    degenerate: bool = False
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Threshold:
    """One threshold value of one kind, e.g. ``max_leakage=0.1``."""

    kind: str
    value: float

    def __post_init__(self) -> None:
        if self.kind not in THRESHOLD_KINDS:
            raise ConfigError(
                f"threshold kind {self.kind!r} is unknown: expected one of "
                f"{', '.join(THRESHOLD_KINDS)}"
            )

    @property
    def metric(self) -> str:
        return THRESHOLD_KINDS[self.kind][0]

    @property
    def direction(self) -> str:
        return THRESHOLD_KINDS[self.kind][1]

    @property
    def case(self) -> str:
        return f"{self.kind}={self.value:g}"

    def judge(self, m: Measurement) -> tuple[str, str]:
        """``(verdict, reason)`` for a measurement of this threshold's metric.

        A pass means the interval lies on the right side of the threshold and
        an effect of the threshold's size would have been told apart from
        what was measured here (``m.detectable``, for probe audits from a
        leakage planted into the run's own embeddings).
        """
        if m.metric != self.metric:
            raise ConfigError(f"threshold {self.case!r} judges {self.metric!r}, got {m.metric!r}")
        lo, hi = m.ci
        t = self.value
        if self.direction == "min":
            return self._judge_min(m, lo, hi, t)
        if lo > t:
            return "fail", f"interval [{lo:.3f}, {hi:.3f}] lies above {t:g}"
        if m.degenerate:
            return "inconclusive", _degenerate_reason(m)
        if hi > t:
            return "inconclusive", f"interval [{lo:.3f}, {hi:.3f}] straddles {t:g}"
        if (held := self._underpowered(m)) is not None:
            return "inconclusive", f"found nothing, but {held}: add images"
        return "pass", f"interval [{lo:.3f}, {hi:.3f}] lies at or below {t:g}"

    def _judge_min(self, m: Measurement, lo: float, hi: float, t: float) -> tuple[str, str]:
        # A capability is shown by a probe that learned something, and denied
        # only where the sample could have shown it.
        if m.degenerate:
            return "inconclusive", _degenerate_reason(m)
        if lo >= t:
            return "pass", f"interval [{lo:.3f}, {hi:.3f}] lies at or above {t:g}"
        if hi < t:
            if (held := self._underpowered(m)) is not None:
                return "inconclusive", (f"interval [{lo:.3f}, {hi:.3f}] lies below {t:g}, "
                                        f"but {held}: add images")
            return "fail", f"interval [{lo:.3f}, {hi:.3f}] lies below {t:g}"
        return "inconclusive", f"interval [{lo:.3f}, {hi:.3f}] straddles {t:g}"

    def _underpowered(self, m: Measurement) -> str | None:
        """Why an effect of the threshold's size could not be told apart here, or None.

        ``detectable`` is a gain over chance where the metric is an
        accuracy, so it is compared as ``chance + detectable``: like with like.
        """
        if m.detectable is None:
            return None
        if self.metric == "accuracy" and m.chance is not None:
            level, what = m.chance + m.detectable, "accuracy"
        else:
            level, what = m.detectable, "effect"
        if level <= self.value:
            return None
        return (f"the smallest {what} this sample could tell apart ({level:.3f}) "
                f"is above {self.value:g}")


_DEGENERATE = ("degenerate probe: it predicts one class for everything (in some test fold), "
               "so its chance score says nothing about the embedding")


def _degenerate_reason(m: Measurement) -> str:
    # An audit that knows why its measurement says nothing (retrieval at its
    # ceiling, or collapsed) writes the reason in details["degenerate"]; a
    # probe audit writes only a flag there.
    why = m.details.get("degenerate")
    return f"degenerate: {why}" if isinstance(why, str) and why else _DEGENERATE


def thresholds_from_config(audit: str, table: Mapping[str, Any]) -> list[Threshold]:
    """Thresholds of one audit from ``[tool.auditkit.thresholds.AUDIT]``.

    Examples
    --------
    >>> thresholds_from_config("jpeg_quality", {"max_leakage": [0.1, 0.3]})
    [Threshold(kind='max_leakage', value=0.1), Threshold(kind='max_leakage', value=0.3)]
    """
    out = []
    for kind, values in table.items():
        if kind not in THRESHOLD_KINDS:
            raise ConfigError(
                f"[tool.auditkit.thresholds.{audit}] has unknown key {kind!r}: "
                f"expected one of {', '.join(THRESHOLD_KINDS)}"
            )
        for value in values if isinstance(values, list) else [values]:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(
                    f"[tool.auditkit.thresholds.{audit}] {kind} = {value!r}: expected a number"
                )
            out.append(Threshold(kind, float(value)))
    return out


def to_result(audit: str, threshold: Threshold, m: Measurement, card: str | None = None
              ) -> AuditResult:
    """The :class:`AuditResult` of one threshold case."""
    verdict, reason = threshold.judge(m)
    # What the audit says qualifies any verdict of it (details["caveats"]).
    caveats = [c for c in m.details.get("caveats") or () if isinstance(c, str) and c]
    details = dict(m.details)
    details["reason"] = "; ".join([reason, *caveats])
    if m.detectable is not None:
        details.setdefault(f"detectable_{m.metric}", m.detectable)
    return AuditResult(
        audit=audit,
        case=threshold.case,
        metric=m.metric,
        value=m.value,
        ci=m.ci,
        chance=m.chance,
        threshold=threshold.value,
        direction=threshold.direction,
        verdict=verdict,
        n=m.n,
        details=details,
        card=card,
    )


def error_result(audit: str, case: str, message: str, card: str | None = None) -> AuditResult:
    """An ``error`` case: the audit could not be measured."""
    return _unmeasured("error", audit, case, message, card)


def not_applicable_result(audit: str, case: str, message: str, card: str | None = None
                          ) -> AuditResult:
    """A ``not_applicable`` case: the probe set lacks the audit's input (the reason and remedy)."""
    return _unmeasured("not_applicable", audit, case, message, card)


def _unmeasured(verdict: str, audit: str, case: str, message: str, card: str | None
                ) -> AuditResult:
    return AuditResult(
        audit=audit, case=case, metric="", value=None, ci=None, chance=None, threshold=None,
        direction="max", verdict=verdict, n=0, details={"reason": message}, card=card,
    )


#: The pytest outcomes :func:`decide` can ask for.
OUTCOMES = ("pass", "fail", "xfail", "skip")


@dataclass(frozen=True)
class Outcome:
    """What pytest should make of one judged case: ``kind`` in :data:`OUTCOMES`, and why."""

    kind: str
    message: str


def decide(result: AuditResult, message: str, *, reference: bool = False,
           comparison: Comparison | None = None, inconclusive: str = "skip") -> Outcome:
    """The pytest outcome of a judged case: the gate's rule, in one place.

    Parameters
    ----------
    result : AuditResult
        The case as judged against its threshold.
    message : str
        The case's one-line summary, which every outcome message carries.
    reference : bool
        The encoder is a reference (a positive control): its failures are expected.
    comparison : Comparison or None
        The case compared with the baseline, when the run has one.
    inconclusive : str
        What an inconclusive case becomes: ``"skip"`` or ``"fail"`` (``--audit-inconclusive``).

    Notes
    -----
    In order, the first rule that applies:

    1. an ``error`` verdict fails; a ``not_applicable`` one (the probe set lacks
       the audit's input) follows ``inconclusive``, since it says nothing about the model;
    2. a regression against the baseline fails, and so does a comparison that
       failed (an ``error`` on the baseline's side);
    3. a reference's ``fail`` is an expected failure;
    4. a ``fail`` that the baseline failed too is an expected failure only when
       the comparison shows no regression (``ok``); when the comparison is
       inconclusive, the case is inconclusive, since "no regression" was not shown;
    5. any other ``fail`` fails;
    6. an ``inconclusive`` verdict, or a ``pass`` whose comparison with the
       baseline is inconclusive or not applicable, follows ``inconclusive``;
    7. otherwise the case passes.

    Examples
    --------
    >>> decide(result, "jpeg_quality max_leakage=0.1: ...").kind   # doctest: +SKIP
    'fail'
    """
    cmp = comparison.outcome if comparison is not None else None
    if result.verdict == "error":
        return Outcome("fail", message)
    if result.verdict == "not_applicable":
        return _by_policy("not applicable: " + message, inconclusive)
    if cmp == "regression":
        assert comparison is not None
        return Outcome("fail", f"regression against the baseline: {message}; {comparison.reason}")
    if cmp == "error":
        assert comparison is not None
        # The gate cannot vouch for a case it could not compare; "no regression" was not shown.
        return Outcome("fail", f"the comparison with the baseline failed: {message}; "
                               f"{comparison.reason}")
    if result.verdict == "fail":
        if reference:
            return Outcome("xfail", "reference encoder: " + message)
        if comparison is not None and comparison.base_verdict == "fail":
            if cmp == "ok":
                # A gate judges what the candidate changed; the base's own
                # failures are known, and still on the card.
                return Outcome("xfail", f"fails in the baseline too, no regression: {message}; "
                                        f"{comparison.reason}")
            if cmp == "inconclusive":
                return _inconclusive(f"fails in the baseline too, and the comparison cannot tell "
                                     f"whether it leaks more: {message}; {comparison.reason}",
                                     inconclusive)
        return Outcome("fail", message)
    if result.verdict == "inconclusive":
        return _inconclusive(message, inconclusive)
    if cmp == "inconclusive":
        assert comparison is not None
        return _inconclusive(f"the comparison with the baseline is inconclusive: {message}; "
                             f"{comparison.reason}", inconclusive)
    if cmp == "not_applicable":
        assert comparison is not None
        return _by_policy(f"not applicable against the baseline: {message}; "
                          f"{comparison.reason}", inconclusive)
    return Outcome("pass", message)


def _inconclusive(message: str, policy: str) -> Outcome:
    return _by_policy("inconclusive: " + message, policy)


def _by_policy(message: str, policy: str) -> Outcome:
    """What ``--audit-inconclusive`` makes of a case that says nothing about the model."""
    return Outcome("fail" if policy == "fail" else "skip", message)
