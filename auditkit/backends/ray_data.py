"""The Ray Data backend: extraction as a Ray Data pipeline, on one machine or a cluster.

The front (:class:`~auditkit.extract.Extractor`) hands it the misses as
:class:`~auditkit.backends.base.Work`; the pipeline is

1. CPU tasks (``map_batches`` with a function): read, decode, apply the
   variants and the encoder's preprocessing (:func:`~auditkit.backends.base.prepare`,
   the same code as the local engine, so the entries are the same);
2. an actor pool (``map_batches`` with a class): each actor holds the encoder,
   one actor per GPU where the encoder runs on CUDA, else a small CPU pool;
3. the batches stream back to this process, where the front checks them and
   writes them into the store under the same keys as the local engine.

Actors rebuild the encoder from its spec and load options (and check that the
fingerprint and the embedding environment they get are the ones the keys
name); only an encoder that cannot be rebuilt from its spec (``python:``
objects) travels pickled. Ray is imported only when this engine runs, so
this module can be imported without it.
"""

from __future__ import annotations

import importlib
import logging
import os
import pickle
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from auditkit.backends.base import Batch, Failure, Preparer, Work, prepare
from auditkit.cache import environment_key
from auditkit.encoders.base import Encoder
from auditkit.encoders.options import LoadOptions
from auditkit.errors import ConfigError, EngineError

__all__ = ["EncoderRecipe", "RayDataBackend", "require_ray"]

log = logging.getLogger("auditkit")

#: Spec sources whose spec alone does not rebuild the encoder on another host
#: (a ``python:`` object may live in a module only the driver can import).
SHIPPED_SOURCES = ("python",)
#: CPU cores a local cluster started by this backend may use (modest: the
#: driver and the rest of the test session keep the others).
LOCAL_CPUS = 4
#: Encoder actors of a CPU-only pool: the model is copied into each.
CPU_ACTORS = 2
#: Source images per preparing task.
IMAGES_PER_TASK = 16
#: Memory reserved by a preparing task (bytes): a worker with torch imported
#: holds about 550 MiB before its decoded images and model inputs.
PREPARE_MEMORY = 1024**3


def require_ray() -> ModuleType:
    """``ray.data``, or a usage error that names the extra to install.

    Examples
    --------
    >>> require_ray().__name__  # doctest: +SKIP
    'ray.data'
    """
    try:
        return importlib.import_module("ray.data")
    except ImportError as exc:
        raise ConfigError(
            "--audit-engine ray needs ray[data]: pip install 'pytest-auditkit[ray]'"
        ) from exc


@dataclass(frozen=True)
class EncoderRecipe:
    """How an actor gets its encoder, and what it must find when it has it.

    Parameters
    ----------
    spec : str
        The encoder's spec, rebuilt with ``options`` (unless ``module`` is set).
    options : LoadOptions
        As the driver built it with (the seed of ``random:`` weights).
    amp : str
        ``--audit-amp`` of the run.
    device : str
        ``"cuda"`` (each actor sees its own GPU as ``cuda``) or ``"cpu"``.
    fingerprint : str
        The driver's encoder fingerprint: the keys name it.
    environment : str
        :func:`~auditkit.cache.environment_key` of the driver's device: the
        keys name it too.
    module : Encoder or None
        The encoder itself, for one that its spec cannot rebuild.
    """

    spec: str
    options: LoadOptions
    amp: str
    device: str
    fingerprint: str
    environment: str
    module: Encoder | None = None

    @classmethod
    def of(cls, encoder: Encoder, options: LoadOptions, amp: str) -> EncoderRecipe:
        device = "cuda" if encoder.device.startswith("cuda") else "cpu"
        shipped = encoder.spec.split(":", 1)[0] in SHIPPED_SOURCES or not encoder.spec
        return cls(encoder.spec, options, amp, device, encoder.fingerprint,
                   environment_key(encoder.device), encoder if shipped else None)

    def build(self) -> Encoder:
        """The encoder on this worker's device, checked against what the keys name.

        Raises
        ------
        EngineError
            The rebuilt encoder's fingerprint, or this worker's embedding
            environment (device kind, precision settings, Pillow and libjpeg
            versions), differs from the driver's.
        """
        from auditkit.encoders import build_encoder
        from auditkit.encoders.torch_encoder import set_amp

        if self.module is not None:
            encoder = self.module
        else:
            encoder = build_encoder(self.spec, self.options)
            set_amp(encoder, self.amp)
        encoder = encoder.to(self.device)
        if encoder.fingerprint != self.fingerprint:
            raise EngineError(
                f"encoder {self.spec!r} rebuilt on a Ray worker has fingerprint "
                f"{encoder.fingerprint[:12]!r}, not the driver's {self.fingerprint[:12]!r}: "
                "install the same weights and versions on every node"
            )
        found = environment_key(encoder.device)
        if found != self.environment:
            raise EngineError(
                f"a Ray worker of {self.spec!r} computes on {encoder.device!r} in another "
                f"embedding environment ({found[:12]!r}) than the driver's device names "
                f"({self.environment[:12]!r}): its entries would be stored under keys that "
                "do not describe them. Give the driver the workers' device kind "
                "(--audit-device) and the same Pillow, libjpeg and torch settings"
            )
        return encoder


def _prepare_rows(batch: dict[str, np.ndarray], preparer: Preparer) -> dict[str, np.ndarray]:
    """CPU task: decode the images of ``batch`` and prepare every pair's model input."""
    keys, items, image_ids, failures = [], [], [], []
    for blob in batch["work"]:
        work: Work = pickle.loads(blob)
        for key, item in prepare(preparer, work):
            keys.append(key)
            image_ids.append(work.image.id)
            if isinstance(item, Failure):
                items.append(b"")
                failures.append(item.reason)
            else:
                items.append(pickle.dumps(item, protocol=5))
                failures.append("")
    return _columns(key=keys, item=items, image_id=image_ids, failure=failures)


class _EncoderActor:
    """Actor of the pool: holds one encoder, embeds the prepared rows it is given."""

    def __init__(self, recipe: EncoderRecipe) -> None:
        self.encoder = recipe.build()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        failures = list(batch["failure"])
        good = [i for i, reason in enumerate(failures) if not reason]
        vectors = [b""] * len(failures)
        if good:
            inputs = [pickle.loads(batch["item"][i]) for i in good]
            out = np.asarray(self.encoder.embed_batch(self.encoder.collate(inputs)), np.float32)
            if out.ndim != 2 or out.shape[0] != len(good):
                raise ValueError(
                    f"encoder {self.encoder.spec!r} returned an array of shape {out.shape} "
                    f"for a batch of {len(good)} images; expected ({len(good)}, D)"
                )
            for i, row in zip(good, out, strict=True):
                vectors[i] = row.tobytes()
        return _columns(key=list(batch["key"]), vector=vectors,
                        image_id=list(batch["image_id"]), failure=failures)


def _columns(**columns: list[Any]) -> dict[str, np.ndarray]:
    # Object arrays: Ray Data stores str and bytes columns without guessing shapes.
    return {name: np.array(values, dtype=object) for name, values in columns.items()}


def _batch(rows: dict[str, np.ndarray]) -> Batch:
    """The rows the pipeline handed back, as the front's :class:`Batch`."""
    failed = [Failure(str(i), str(r)) for i, r in zip(rows["image_id"], rows["failure"],
                                                      strict=True) if r]
    good = [i for i, reason in enumerate(rows["failure"]) if not reason]
    if not good:
        return Batch((), np.zeros((0, 0), np.float32), tuple(failed))
    vectors = np.stack([np.frombuffer(rows["vector"][i], dtype=np.float32) for i in good])
    return Batch(tuple(str(rows["key"][i]) for i in good), vectors, tuple(failed))


class RayDataBackend:
    """Computes the misses with a Ray Data pipeline (see the module's docstring).

    Parameters
    ----------
    batch_size : int or None
        Pairs per forward pass of an actor (default: the encoder's).
    options : LoadOptions or None
        How the run built its encoders; actors rebuild theirs with them.
    amp : str
        ``--audit-amp`` of the run.
    address : str or None
        Ray cluster to connect to (default: ``RAY_ADDRESS``, else a local
        cluster started on the first call and stopped by :meth:`close`).
        Already connected (``ray.init`` called by the caller): that cluster.
    actors : int or None
        Encoder actors (default: one per GPU of the cluster for a CUDA
        encoder, else :data:`CPU_ACTORS`, at most half the cluster's CPUs).
    progress : bool
        Show Ray Data's progress bars.

    Examples
    --------
    >>> backend = RayDataBackend(batch_size=64)
    >>> backend.started
    False
    """

    def __init__(
        self,
        batch_size: int | None = None,
        options: LoadOptions | None = None,
        amp: str = "none",
        address: str | None = None,
        actors: int | None = None,
        progress: bool = False,
    ) -> None:
        self.batch_size = batch_size
        self.options = options or LoadOptions()
        self.amp = amp
        self.address = address
        self.actors = actors
        self.progress = progress
        #: Whether this backend started the Ray instance it uses (and so stops it).
        self.started = False

    def compute(self, encoder: Encoder, work: Sequence[Work]) -> Iterator[Batch]:
        """Embed every pair of ``work`` on the cluster; one :class:`Batch` per block back."""
        if not work:
            return
        ray = self._connect()
        data = require_ray()
        recipe = EncoderRecipe.of(encoder, self.options, self.amp)
        cuda = recipe.device == "cuda"
        actors = self.actors or self._pool_size(ray, cuda)
        from ray import cloudpickle  # image loaders may be closures

        rows = [{"work": cloudpickle.dumps(w, protocol=5)} for w in work]
        dataset = (
            data.from_items(rows)
            .map_batches(_prepare_rows, fn_kwargs={"preparer": Preparer.of(encoder)},
                         batch_size=IMAGES_PER_TASK, batch_format="numpy", num_cpus=1,
                         # Also what keeps Ray from fusing this stage into the
                         # actors' (fusion needs equal remote arguments): decoding
                         # stays in tasks, which any node's free CPUs can run.
                         memory=PREPARE_MEMORY)
            .map_batches(_EncoderActor, fn_constructor_kwargs={"recipe": recipe},
                         batch_size=self.batch_size or encoder.default_batch_size,
                         batch_format="numpy", compute=data.ActorPoolStrategy(size=actors),
                         num_gpus=1 if cuda else 0, num_cpus=1)
        )
        for rows_back in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            yield _batch(rows_back)
        log.debug("ray engine, %s: %s", encoder.spec, dataset.stats())

    def close(self) -> None:
        """Stop the Ray instance this backend started (one it joined is left running)."""
        if self.started:
            import ray

            ray.shutdown()
            self.started = False

    def _connect(self) -> ModuleType:
        """Ray, initialised: the caller's instance, ``address``/``RAY_ADDRESS``, or a local one."""
        require_ray()
        import ray

        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = self.progress
        if ray.is_initialized():
            return ray
        address = self.address or os.environ.get("RAY_ADDRESS")
        if address:
            ray.init(address=address, log_to_driver=self.progress)
        else:
            # "local" starts one even where `ray start` left a cluster running.
            ray.init(address="local", num_cpus=min(LOCAL_CPUS, os.cpu_count() or 1),
                     include_dashboard=False, log_to_driver=self.progress)
        self.started = True
        log.info("ray engine: %s", ray.cluster_resources())
        return ray

    def _pool_size(self, ray: ModuleType, cuda: bool) -> int:
        resources = ray.cluster_resources()
        if cuda:
            gpus = int(resources.get("GPU", 0))
            if not gpus:
                raise EngineError("the encoder runs on CUDA but the Ray cluster has no GPU: "
                                  "run with --audit-device cpu, or add GPU nodes")
            return gpus
        # The other half of the CPUs decode and transform.
        return max(1, min(CPU_ACTORS, int(resources.get("CPU", 1)) // 2))
