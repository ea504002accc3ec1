"""Where a run's baseline results live, reading them, checking them and writing them back.

``--audit-baseline PATH`` names either one ``results.json`` (the base model of
the audited encoders; reference encoders such as ``pixels`` are not compared
with it) or a report directory laid out like ``reports/out``, where each
encoder, references included, has its own ``<slug>/results.json``.

A baseline is only a fair base when it was measured like this run: on the
same probe set, seed and ``--audit-max-images``, with the same measuring
settings, auditkit version and the same libraries making the variants'
pixels (:func:`comparable` owns that list), and of the right encoder (the
base architecture of a ``.json`` baseline's audited encoders, the encoder
itself in a directory). :func:`check_baseline` makes a
difference a usage error unless ``--audit-baseline-allow-mismatch`` is
given; then every compared case records the differences, and the card and
the terminal say so.

``--audit-base SPEC`` (:class:`SameRunBase`) needs no file: the base is
measured in the same run, on the same images, and each audited encoder's
case is compared with the base's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditkit.compare import DEFAULT_TOLERANCE
from auditkit.errors import AuditkitError, ConfigError
from auditkit.layout import ReportLayout
from auditkit.results import AuditResult, load_document, write_json_atomic

if TYPE_CHECKING:
    from auditkit.run_config import RunConfig

ALLOW_FLAG = "--audit-baseline-allow-mismatch"

#: ``[tool.auditkit]`` keys outside the settings digest beyond the memo's
#: (``seed`` is compared as the run's resolved seed, which the CLI may override).
_OWN_FIELDS = frozenset({"seed", "split_seed"})


def comparable(run: RunConfig, probe_digest: str | None = None) -> dict[str, Any]:
    """What must agree between a run and its baseline for a comparison to be fair.

    ``probe_digest`` is the probe set's :attr:`~auditkit.data.base.ProbeSet.digest`;
    before the probe set is loaded it is left out (the cheap fields are
    checked at start-up, the digest once the set is there). ``data`` is
    recorded to say where the images came from; the digest is what is compared.

    Examples
    --------
    >>> comparable(run, "ab12")["max_images"]   # doctest: +SKIP
    60
    """
    from auditkit import __version__
    from auditkit.encoders.base import stable_hash
    from auditkit.memo import NOT_MEASURED
    from auditkit.numerics import pixel_libraries

    skip = NOT_MEASURED | _OWN_FIELDS
    settings = {k: v for k, v in run.project.items() if k not in skip}
    block: dict[str, Any] = {
        "data": run.data or "builtin",
        "seed": run.seed,
        "split_seed": run.split_seed,
        "max_images": run.max_images,
        "settings": stable_hash(settings)[:16],
        "auditkit": __version__,
        # The variants' pixels are the probe set too: another OpenCV moved the
        # built-in style audits of `pixels` by up to 0.022 (4.14 against 5.1).
        "pixels": pixel_libraries(),
    }
    if probe_digest is not None:
        block["probe_set"] = probe_digest
    return block


#: Fields of :func:`comparable` that are recorded but not compared (see there).
_RECORDED_ONLY = frozenset({"data"})


def comparable_mismatches(base: Mapping[str, Any] | None,
                          here: Mapping[str, Any]) -> list[str]:
    """Each field of ``here`` that ``base`` (a baseline's ``comparable`` block) has otherwise.

    Examples
    --------
    >>> comparable_mismatches({"seed": 0, "max_images": 60}, {"seed": 0, "max_images": None})
    ['max_images: baseline 60, this run None']
    >>> comparable_mismatches({"max_images": None}, {"max_images": 120})[0].endswith(
    ...     "--audit-profile full)")
    True
    >>> comparable_mismatches(None, {"seed": 0})[0][:40]
    'the baseline records no comparable setti'
    """
    if not isinstance(base, Mapping):
        return ["the baseline records no comparable settings (it was written by an older "
                "auditkit): probe set, seed, max-images and settings cannot be checked"]
    return [f"{key}: baseline {base.get(key)!r}, this run {value!r}"
            + (_profile_hint(base.get(key)) if key == "max_images" else "")
            for key, value in here.items()
            if key not in _RECORDED_ONLY and base.get(key) != value]


def _profile_hint(cap: Any) -> str:
    """The profile that measures ``cap`` images of the built-in set, as a way out.

    A baseline written before the ``quick`` profile became the default holds
    every image; a plain run now measures 120.

    Examples
    --------
    >>> _profile_hint(None)
    ' (the profile that measures like the baseline: --audit-profile full)'
    >>> _profile_hint(77)
    ''
    """
    from auditkit.profiles import PROFILES

    name = next((n for n, p in PROFILES.items() if p.max_images == cap), None)
    if name is None:
        return ""
    return f" (the profile that measures like the baseline: --audit-profile {name})"


def architecture(spec: str) -> str:
    """``spec`` without its weights: what a fine-tune shares with its base.

    Examples
    --------
    >>> architecture("clip@ft.pt") == architecture("open_clip:ViT-B-32/openai")
    True
    >>> architecture("random:timm:resnet18")
    'timm:resnet18'
    """
    from auditkit.encoders.spec import parse_spec

    try:
        parsed = parse_spec(spec)
    except AuditkitError:
        return spec.strip()
    if parsed.source == "hf":
        # A fine-tune is another folder: its config, not its path, names the architecture.
        from auditkit.encoders.hf_adapter import architecture_key

        key = architecture_key(parsed)
        if key is not None:
            return key
    return replace(parsed, random=False, weights_path=None, erase_path=None).canonical


def _same_encoder(a: str, b: str) -> bool:
    from auditkit.encoders.spec import parse_spec

    try:
        return parse_spec(a).canonical == parse_spec(b).canonical
    except AuditkitError:
        return a.strip() == b.strip()


@dataclass(frozen=True)
class SameRunBase:
    """``--audit-base SPEC``: the base measured in this run, and the tolerance of the gate."""

    spec: str
    tolerance: float = DEFAULT_TOLERANCE


@dataclass
class Baseline:
    """The baseline of one run.

    Examples
    --------
    >>> b = Baseline(Path("reports/base/clip/results.json"))  # doctest: +SKIP
    >>> b.results_for("clip@ft.safetensors", reference=False)  # doctest: +SKIP
    """

    path: Path
    tolerance: float = DEFAULT_TOLERANCE
    #: ``--audit-baseline-allow-mismatch``: compare despite differences, and say so.
    allow_mismatch: bool = False
    _loaded: dict[Path, dict[str, Any] | None] = field(default_factory=dict, repr=False)

    @property
    def is_file(self) -> bool:
        return self.path.suffix == ".json" or self.path.is_file()

    def path_for(self, spec: str, reference: bool) -> Path | None:
        """The baseline file of ``spec``, or None when this baseline does not cover it."""
        if self.is_file:
            return None if reference else self.path
        return ReportLayout(self.path).results(spec)

    def document(self, spec: str, reference: bool) -> dict[str, Any] | None:
        """The baseline document of ``spec``; None when there is no baseline file yet.

        Raises
        ------
        ConfigError
            The file exists but is not a valid ``results.json``.
        """
        path = self.path_for(spec, reference)
        if path is None:
            return None
        if path not in self._loaded:
            if not path.is_file():
                self._loaded[path] = None
            else:
                try:
                    self._loaded[path] = load_document(path)
                except ValueError as exc:
                    raise ConfigError(f"--audit-baseline: {exc}") from exc
        return self._loaded[path]

    def results_for(self, spec: str, reference: bool) -> list[AuditResult] | None:
        """The baseline's cases for ``spec``; None when there is no baseline file yet.

        Raises
        ------
        ConfigError
            The file exists but is not a valid ``results.json``.
        """
        doc = self.document(spec, reference)
        return None if doc is None else [AuditResult.from_json(a) for a in doc["audits"]]

    def mismatches(self, spec: str, reference: bool, here: Mapping[str, Any]) -> list[str]:
        """How ``spec``'s baseline differs from this run (``here``: :func:`comparable`).

        The encoder first: a ``.json`` baseline must be of ``spec``'s
        architecture (its base), a directory's file of ``spec`` itself.
        """
        doc = self.document(spec, reference)
        if doc is None:
            return []
        out = []
        entry = doc.get("encoder") or {}
        theirs = str(entry.get("spec") or "")
        if self.is_file:
            # Recorded when the baseline was made: its folder may not exist here.
            base_arch = str(entry.get("architecture") or architecture(theirs))
            if base_arch != architecture(spec):
                out.append(f"encoder: baseline {theirs!r} is not a base of {spec!r} "
                           f"(architecture {base_arch!r}, this run "
                           f"{architecture(spec)!r})")
        elif not _same_encoder(theirs, spec):
            out.append(f"encoder: baseline {theirs!r}, this run {spec!r}")
        provenance = doc.get("provenance") or {}
        return out + comparable_mismatches(provenance.get("comparable"), here)

    def write(self, spec: str, reference: bool, doc: dict[str, Any]) -> Path | None:
        """Make ``doc`` the baseline of ``spec`` (``--audit-update-baseline``)."""
        path = self.path_for(spec, reference)
        if path is not None:
            write_json_atomic(path, doc)
        return path


def check_baseline(run: RunConfig, probe_digest: str | None = None) -> None:
    """Read every baseline file now and check it was made like this run.

    Called at start-up with the cheap fields of :func:`comparable`, and once
    more (on the controller) with the probe set's digest. A difference is
    allowed by ``--audit-baseline-allow-mismatch``, and under
    ``--audit-update-baseline``, which replaces the baseline.

    Raises
    ------
    ConfigError
        A broken baseline file, or one that differs from this run.
    """
    baseline = run.baseline
    if baseline is None:
        return
    audited = [s for s in run.all_specs if not run.is_reference(s)]
    if baseline.is_file and run.update_baseline and len(audited) > 1:
        raise ConfigError(
            f"--audit-update-baseline with the file {str(baseline.path)!r} and "
            f"{len(audited)} audited encoders: give a directory so each gets its own"
        )
    here = comparable(run, probe_digest)
    for spec in run.all_specs:
        reference = run.is_reference(spec)
        problems = baseline.mismatches(spec, reference, here)
        if problems and not (baseline.allow_mismatch or run.update_baseline):
            raise ConfigError(
                f"--audit-baseline {str(baseline.path_for(spec, reference))!r} was not made "
                f"like this run of {spec!r}: {'; '.join(problems)}. Make the baseline again "
                f"with this run's settings (--audit-update-baseline), or pass {ALLOW_FLAG} "
                "to compare anyway (the card and the summary will say so)"
            )
