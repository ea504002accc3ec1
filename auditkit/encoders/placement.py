"""How a torch model is run on its device: memory layout, pinned batches, batch size.

Each decision is a small pure function of the device string (and, for the
batch size, the device's free memory), so that it is tested on a machine
without an accelerator; :class:`~auditkit.encoders.torch_encoder.TorchEncoder`
applies them.
"""

from __future__ import annotations

import torch

__all__ = [
    "CHANNELS_LAST_MIN_CONV_SHARE",
    "CPU_BATCH_SIZE",
    "batch_size_for",
    "conv_share",
    "cpu_channels_last",
    "free_memory",
    "pins",
    "wants_channels_last",
]

GIB = 1024**3

#: On CPU a batch of 8 already keeps every core busy, and larger ones only
#: spill activations out of cache: on 2 cores ViT-B/32 ran at 12.1 img/s at
#: 16 against 11.2 at 32 (benchmarks/RESULTS.md).
CPU_BATCH_SIZE = 16

#: CUDA batch size by free device memory: the first row whose floor the free
#: memory reaches. A 16 GiB card keeps 32, as before; an H100 or H200 (80 to
#: 141 GiB) takes 256, an estimated 4 GiB of activations a batch for ViT-L/14 at
#: full precision in inference, far from the limit.
CUDA_BATCH_SIZES: tuple[tuple[float, int], ...] = (
    (64 * GIB, 256),
    (32 * GIB, 128),
    (16 * GIB, 64),
    (0, 32),
)

#: Least share of a model's weight layers that must be ``Conv2d`` for it to
#: run in channels_last. ViTs, DeiT and Swin have one convolution (the patch
#: embedding) among about 50 linear layers (2 %); ResNets, EfficientNets and
#: ConvNeXts are 38 % (ConvNeXt-T, whose MLPs are linear layers) to 99 %
#: convolutions; hybrid ViT-ResNets about 38 %.
CHANNELS_LAST_MIN_CONV_SHARE = 0.25

#: timm architectures (name prefixes) that run in channels_last on the CPU
#: too. EfficientNet-Lite's depthwise convolutions run 1.6x faster in NHWC on
#: the CPU (CPU time per image, batch 32, 2 cores; embeddings within 1e-5;
#: 1.76x at one thread, 2026-12-01). Not so for ConvNeXt (slower) or
#: MobileNetV3 (no change), hence a measured list and not a rule.
CPU_CHANNELS_LAST_ARCHS = ("tf_efficientnet_lite",)


def pins(device: str) -> bool:
    """Whether batches bound for ``device`` are stacked into pinned host memory.

    Only a copy from pinned (page-locked) memory can run asynchronously with
    ``non_blocking=True``; pinning for a CPU model is wasted work.

    Examples
    --------
    >>> pins("cuda:1"), pins("cpu"), pins("mps")
    (True, False, False)
    """
    return device.startswith("cuda")


def conv_share(module: torch.nn.Module) -> float:
    """Share of ``module``'s ``Conv2d`` and ``Linear`` layers that are ``Conv2d``.

    Layers are counted, not parameters or FLOPs: what channels_last saves is
    a layout conversion around every convolution, whatever its size. By
    parameters a ConvNeXt-B (4 %, its MLPs are linear and its depthwise
    convolutions small) could not be told from a ViT-B/32 (2.7 %, all in the
    patch embedding); by layers they are 35 % and 2 %.

    Examples
    --------
    >>> conv_share(torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Linear(8, 2)))
    0.5
    >>> conv_share(torch.nn.Identity())
    0.0
    """
    convs = linears = 0
    for layer in module.modules():
        convs += isinstance(layer, torch.nn.Conv2d)
        linears += isinstance(layer, torch.nn.Linear)
    return convs / (convs + linears) if convs + linears else 0.0


def wants_channels_last(module: torch.nn.Module, device: str) -> bool:
    """Whether ``module`` runs in channels_last (NHWC) on ``device``.

    On CUDA, where cuDNN's tensor-core convolutions want NHWC, and only where
    convolutions dominate (:data:`CHANNELS_LAST_MIN_CONV_SHARE` of the weight
    layers, see :func:`conv_share`): a ViT's single patch-embedding
    convolution is not worth converting every batch for. On CPU the layout is
    left alone: no measurement here showed it helping.

    Examples
    --------
    >>> linears = [torch.nn.Linear(8, 8) for _ in range(4)]
    >>> vit_like = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 4), *linears)
    >>> wants_channels_last(vit_like, "cuda:0")
    False
    >>> wants_channels_last(torch.nn.Conv2d(3, 8, 3), "cuda:0")
    True
    >>> wants_channels_last(torch.nn.Conv2d(3, 8, 3), "cpu")
    False
    """
    return device.startswith("cuda") and conv_share(module) >= CHANNELS_LAST_MIN_CONV_SHARE


def cpu_channels_last(arch: str) -> bool:
    """Whether timm architecture ``arch`` was measured faster in channels_last on the CPU.

    Examples
    --------
    >>> cpu_channels_last("tf_efficientnet_lite0"), cpu_channels_last("convnext_tiny")
    (True, False)
    """
    return arch.startswith(CPU_CHANNELS_LAST_ARCHS)


def batch_size_for(device: str, free_bytes: int | None) -> int:
    """Default pairs per forward pass on ``device`` with ``free_bytes`` free.

    :data:`CPU_BATCH_SIZE` off CUDA; on CUDA by free memory
    (:data:`CUDA_BATCH_SIZES`), 32 when it is unknown. ``--audit-batch-size``
    overrides it.

    Examples
    --------
    >>> batch_size_for("cpu", None)
    16
    >>> batch_size_for("cuda:0", 11 * GIB), batch_size_for("cuda:0", 22 * GIB)
    (32, 64)
    >>> batch_size_for("cuda:0", 78 * GIB), batch_size_for("cuda:0", 139 * GIB)
    (256, 256)
    >>> batch_size_for("cuda:0", None)
    32
    """
    if not device.startswith("cuda"):
        return CPU_BATCH_SIZE
    free = free_bytes or 0
    return next(size for floor, size in CUDA_BATCH_SIZES if free >= floor)


def free_memory(device: str) -> int | None:
    """Free bytes on a CUDA ``device`` now, or None (not CUDA, or unreadable)."""
    if not device.startswith("cuda") or not torch.cuda.is_available():
        return None
    try:
        free, _total = torch.cuda.mem_get_info(torch.device(device))
    except (RuntimeError, ValueError):  # a device index that does not exist
        return None
    return int(free)
