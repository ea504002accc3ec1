"""One run's settings, resolved once: command line over ``[tool.auditkit]`` over the defaults.

:class:`RunConfig` is built when pytest configures (or by a script) and never
re-derived afterwards: the session, the audits and the reports read its typed
fields. Every value is validated here, so a bad option or table is one usage
error at start-up rather than a failure of every test case.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from auditkit import seeds
from auditkit.baseline import Baseline, SameRunBase
from auditkit.config import baseline_tolerance, check_thresholds, merge_defaults, read_table
from auditkit.encoders.spec import EncoderSpec, parse_spec
from auditkit.errors import ConfigError, SpecError

# The choices live with the options, which the plugin defines without importing
# this module (and numpy through the encoder specs) in every pytest run.
from auditkit.plugin_options import AMP_CHOICES, ENGINE_CHOICES, INCONCLUSIVE_OUTCOMES
from auditkit.profiles import DEFAULT_PROFILE, check_profile, resolve_max_images

__all__ = ["AMP_CHOICES", "ENGINE_CHOICES", "INCONCLUSIVE_OUTCOMES", "RunConfig"]


@dataclass(frozen=True)
class RunConfig:
    """The settings of one audit run (see ``plugin_options.py`` for each option's help).

    Examples
    --------
    >>> run = RunConfig.resolve({"encoder": ["pixels"]}, Path("."))   # doctest: +SKIP
    >>> run.specs["pixels"].source                                   # doctest: +SKIP
    'pixels'
    """

    encoders: tuple[str, ...]
    references: tuple[str, ...] = ()
    root: Path = Path(".")
    project: Mapping[str, Any] = field(default_factory=dict)
    data: str | None = None
    report_dir: Path = Path("reports/out")
    #: A local folder, or an fsspec URL (``s3://bucket/auditkit``) kept as text.
    cache_dir: Path | str | None = None
    use_cache: bool = True
    device: str | None = None
    seed: int = 0
    #: Seed of splits, folds, bootstraps and random controls (``seeds.split_seed``).
    split_seed: int = 0
    max_images: int | None = None
    #: ``--audit-profile`` (:mod:`auditkit.profiles`): it set :attr:`max_images` unless given.
    profile: str = DEFAULT_PROFILE
    workers: int | None = None
    batch_size: int | None = None
    inconclusive: str = "skip"
    template_dir: Path | None = None
    progress: bool = False
    write_reports: bool = True
    baseline: Baseline | None = None
    update_baseline: bool = False
    amp: str = "none"
    #: Extraction engine: ``local`` or ``ray`` (:mod:`auditkit.backends.ray_data`).
    engine: str = "local"
    #: ``--audit-base``: the base measured in this run (one of :attr:`references`).
    base: SameRunBase | None = None
    specs: Mapping[str, EncoderSpec] = field(default_factory=dict)

    @property
    def all_specs(self) -> list[str]:
        """Audited encoders, then references, each once."""
        return list(dict.fromkeys([*self.encoders, *self.references]))

    def is_reference(self, spec: str) -> bool:
        return spec in self.references

    def table(self, name: str | None) -> Mapping[str, Any]:
        """The project's ``[tool.auditkit.NAME]`` table, or an empty mapping."""
        value = self.project.get(name) if name else None
        return value if isinstance(value, Mapping) else {}

    @classmethod
    def resolve(cls, cli: Mapping[str, Any], root: Path, *, worker: bool = False,
                progress: bool = False) -> RunConfig:
        """Resolve the command line ``cli`` (option dest -> value) against ``root``'s pyproject.

        Raises
        ------
        ConfigError
            A malformed ``[tool.auditkit]``, an encoder spec that does not
            parse, or an option value out of range.
        """
        given_specs = [*(cli.get("encoder") or []), *(cli.get("audit_reference") or [])]
        # The command line's specs first: a typo is refused before the stock
        # audits (and torch) load for the defaults.
        _parsed([s for s in given_specs if s != NO_REFERENCE], "--encoder/--audit-reference")
        user = read_table(root)
        project = merge_defaults(user, root)
        encoders = list(cli.get("encoder") or project["encoders"])
        given = cli.get("audit_reference")
        references = _references(given, cli.get("encoder") or [], project["references"] if (
            not cli.get("encoder") or "references" in user) else [])
        origin = "--encoder/--audit-reference" if cli.get("encoder") or given else (
            f"[tool.auditkit] encoders/references in {str(Path(root) / 'pyproject.toml')!r}")
        # Specs before the other settings: a typo is the first thing said.
        specs = _parsed(list(dict.fromkeys([*encoders, *references])), origin)
        seed = _seed(cli.get("audit_seed"), project.get("seed", 0), "seed")
        split_seed = seeds.split_seed(seed, _seed(cli.get("audit_split_seed"),
                                                  project.get("split_seed"), "split_seed"))
        for name in ("audit_max_images", "audit_batch_size"):
            _positive(name, cli.get(name), least=1)
        _positive("audit_workers", cli.get("audit_workers"), least=0)
        inconclusive = cli.get("audit_inconclusive") or "skip"
        if inconclusive not in INCONCLUSIVE_OUTCOMES:
            raise ConfigError(f"--audit-inconclusive={inconclusive!r}: expected one of "
                              f"{', '.join(INCONCLUSIVE_OUTCOMES)}")
        amp = cli.get("audit_amp") or "none"
        if amp not in AMP_CHOICES:
            raise ConfigError(f"--audit-amp={amp!r}: expected one of {', '.join(AMP_CHOICES)}")
        engine = _engine(cli.get("audit_engine"), project.get("engine", "local"))
        check_thresholds(project)
        camera = _camera_table(cli, project.get("camera", {}))
        _check_style_table(project.get("style", {}), Path(root))
        if camera:  # a project without the table keeps its measurement keys
            project["camera"] = camera
        from auditkit.device import check_device  # imports torch: after the cheap checks

        check_device(cli.get("audit_device"))
        data = cli.get("audit_data")
        profile = cli.get("audit_profile") or project.get("profile", DEFAULT_PROFILE)
        check_profile(profile, "--audit-profile" if cli.get("audit_profile")
                      else "[tool.auditkit] profile")
        if data and not Path(data).exists():
            raise ConfigError(f"--audit-data={data!r}: no such file or folder (relative paths "
                              "are taken from the current directory)")
        tolerance = baseline_tolerance(project)  # validated even when no baseline is given
        base = _base(cli, tolerance)
        if base is not None:
            specs.update(_parsed([base.spec], "--audit-base"))  # a bad spec blames the option
        if base is not None and base.spec not in references:
            # Audited with the rest, its failures expected: the gate judges the candidates.
            references.append(base.spec)
        return cls(
            encoders=tuple(encoders),
            references=tuple(references),
            root=Path(root),
            project=MappingProxyType(project),
            data=cli.get("audit_data"),
            report_dir=Path(cli.get("audit_report_dir") or "reports/out"),
            cache_dir=_location(cli.get("audit_cache_dir")),
            use_cache=not cli.get("audit_no_cache", False),
            device=cli.get("audit_device"),
            seed=seed,
            split_seed=split_seed,
            max_images=resolve_max_images(profile, cli.get("audit_max_images"), data),
            profile=profile,
            workers=cli.get("audit_workers"),
            batch_size=cli.get("audit_batch_size"),
            inconclusive=inconclusive,
            template_dir=_path(cli.get("audit_template_dir")),
            progress=progress,
            # xdist workers leave reports to the controller.
            write_reports=not worker,
            baseline=_baseline(cli, tolerance),
            update_baseline=bool(cli.get("audit_update_baseline")),
            amp=amp,
            engine=engine,
            base=base,
            specs=MappingProxyType(specs),
        )


#: ``--audit-reference=none``: no references, not even the configured ones.
NO_REFERENCE = "none"


def _references(given: list[str] | None, encoders: list[str],
                configured: list[str]) -> list[str]:
    """The run's references: the command line's, else the configured ones.

    A reference configured in ``[tool.auditkit]`` stays when ``--encoder`` is
    given (a project that compares with ``pixels`` keeps that row), unless it
    is one of the ``encoders`` given: those are audited as encoders.
    ``--audit-reference`` replaces the configured list, and
    ``--audit-reference=none`` empties it.

    Examples
    --------
    >>> _references(None, ["clip"], ["pixels"])
    ['pixels']
    >>> _references(["none"], ["clip"], ["pixels"])
    []
    >>> _references(None, ["pixels"], ["pixels"])
    []
    """
    if given is not None:
        return [s for s in given if s != NO_REFERENCE]
    return [s for s in configured if s not in encoders]


def _seed(given: Any, configured: Any, key: str) -> Any:
    """The command line's seed over the configured one, checked (None stays None)."""
    seed = configured if given is None else given
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ConfigError(f"[tool.auditkit] {key} = {seed!r}: expected an integer")
    return seed


def _engine(given: Any, configured: Any) -> str:
    """The extraction engine, checked; ``ray`` only where Ray is installed."""
    engine = configured if given is None else given
    where = "--audit-engine" if given is not None else "[tool.auditkit] engine ="
    if engine not in ENGINE_CHOICES:
        raise ConfigError(f"{where} {engine!r}: expected one of {', '.join(ENGINE_CHOICES)}")
    if engine == "ray":
        from auditkit.backends.ray_data import require_ray

        require_ray()
    return str(engine)


def _camera_table(cli: Mapping[str, Any], table: Any) -> dict[str, Any]:
    """``[tool.auditkit.camera]`` with ``--audit-camera-*`` over it, checked.

    Merged into the project table, so the measurement key sees the options.
    """
    from auditkit.measures.camera_model import camera_table

    return camera_table(table, cli.get("audit_camera_level"),
                        cli.get("audit_camera_min_per_class"))


def _check_style_table(table: Any, root: Path) -> None:
    """``[tool.auditkit.style]`` checked before collection: keys, values, folders that exist.

    Without it, a misspelled key or a missing folder was the error of every style case.
    """
    from auditkit.data.styles import resolve_folder
    from auditkit.measures.style import options_from_config

    for folder in options_from_config(table, root).folders:
        where = resolve_folder(folder, root)
        if not where.is_dir():
            raise ConfigError(f"[tool.auditkit.style] folders: {folder!r} ({str(where)!r}) does "
                              "not exist or is not a folder (paths are taken from the project "
                              "root)")


def _path(value: Any) -> Path | None:
    return Path(value) if value else None


def _location(value: Any) -> Path | str | None:
    """A folder as a ``Path``; a URL stays text (``Path("s3://b")`` would be ``s3:/b``)."""
    if value and "://" in str(value):
        return str(value)
    return _path(value)


def _positive(name: str, value: Any, least: int) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                              or value < least):
        option = "--" + name.replace("_", "-")
        raise ConfigError(f"{option}={value!r}: expected an integer >= {least}")


def _parsed(specs: list[str], origin: str) -> dict[str, EncoderSpec]:
    out = {}
    for raw in specs:
        try:
            out[raw] = parse_spec(raw)
        except SpecError as exc:
            raise ConfigError(f"{origin}: {exc}") from exc
    return out


def _baseline(cli: Mapping[str, Any], configured: float) -> Baseline | None:
    path = cli.get("audit_baseline")
    if cli.get("audit_update_baseline") and not path:
        raise ConfigError("--audit-update-baseline needs --audit-baseline PATH")
    if not path:
        return None
    return Baseline(Path(path), _tolerance(cli, configured),
                    allow_mismatch=bool(cli.get("audit_baseline_allow_mismatch")))


def _base(cli: Mapping[str, Any], configured: float) -> SameRunBase | None:
    spec = cli.get("audit_base")
    if not spec:
        return None
    if cli.get("audit_baseline"):
        raise ConfigError(f"--audit-base {spec!r} and --audit-baseline "
                          f"{cli.get('audit_baseline')!r}: give one base, measured in this "
                          "run (--audit-base) or read from a file (--audit-baseline)")
    return SameRunBase(spec, _tolerance(cli, configured))


def _tolerance(cli: Mapping[str, Any], configured: float) -> float:
    tolerance = cli.get("audit_baseline_tolerance")
    if tolerance is None:
        return configured
    if tolerance < 0:
        raise ConfigError(f"--audit-baseline-tolerance {tolerance}: expected >= 0")
    return float(tolerance)
