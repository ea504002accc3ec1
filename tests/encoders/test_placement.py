"""Device decisions of a torch encoder, tested without a device: pinning, layout, batch size."""

import pytest
import timm
import torch

from auditkit.encoders import build_encoder, placement
from auditkit.encoders.placement import (
    GIB,
    batch_size_for,
    conv_share,
    pins,
    wants_channels_last,
)


@pytest.mark.parametrize(("device", "expected"),
                         [("cuda", True), ("cuda:3", True), ("cpu", False), ("mps", False)])
def test_batches_are_pinned_only_for_cuda(device, expected):
    assert pins(device) is expected


@pytest.mark.parametrize(
    ("name", "kwargs", "expected"),
    [
        ("vit_tiny_patch16_224", {}, False),  # one patch-embedding Conv2d
        ("swin_tiny_patch4_window7_224", {}, False),
        ("resnet18", {}, True),
        # ConvNeXt with linear MLPs (as ConvNeXt-T/B): few conv parameters, many conv layers.
        ("convnext_atto", {"conv_mlp": False}, True),
    ],
)
def test_channels_last_only_where_convolutions_dominate(name, kwargs, expected):
    model = timm.create_model(name, pretrained=False, **kwargs)
    assert wants_channels_last(model, "cuda:0") is expected
    assert wants_channels_last(model, "cpu") is False


def test_a_vit_is_two_percent_convolution():
    vit = build_encoder("random:timm:vit_tiny_patch16_224")
    assert 0.01 < conv_share(vit.module) < 0.03  # one Conv2d among about 50 layers


@pytest.mark.parametrize(
    ("device", "free_gib", "expected"),
    [
        ("cpu", None, 16),
        ("cpu", 100, 16),
        ("cuda:0", None, 32),
        ("cuda:0", 7.5, 32),  # an 8 GiB card
        ("cuda:0", 15.5, 32),  # a 16 GiB card keeps what it had
        ("cuda:0", 22, 64),  # a 24 GiB card
        ("cuda:0", 39, 128),  # A100 40 GB
        ("cuda:0", 78, 256),  # H100 80 GB
        ("cuda:1", 139, 256),  # H200
    ],
)
def test_batch_size_follows_the_device_and_its_free_memory(device, free_gib, expected):
    free = None if free_gib is None else int(free_gib * GIB)
    assert batch_size_for(device, free) == expected


def test_torch_encoder_takes_its_batch_size_from_the_device(monkeypatch):
    encoder = build_encoder("random:timm:vit_tiny_patch16_224")
    assert encoder.default_batch_size == 16
    # As on an H200: moving to "cuda" is faked, the decision is not.
    monkeypatch.setattr(encoder.module, "to", lambda *a, **k: encoder.module)
    monkeypatch.setattr(placement.torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(placement.torch.cuda, "mem_get_info", lambda device: (139 * GIB, 141 * GIB))
    encoder.to("cuda:0")
    assert encoder.default_batch_size == 256
    assert encoder._channels_last is False  # a ViT keeps its layout


def test_collate_stacks_into_pinned_memory_for_cuda(monkeypatch):
    encoder = build_encoder("random:timm:vit_tiny_patch16_224")
    items = [torch.full((3, 4, 4), float(i)) for i in range(3)]
    allocations = []
    real_empty = torch.empty

    def empty(*args, pin_memory=False, **kwargs):
        allocations.append(pin_memory)
        return real_empty(*args, **kwargs)  # no pinned memory without a device

    monkeypatch.setattr(torch, "empty", empty)
    assert torch.equal(encoder.collate(items), torch.stack(items))
    assert allocations == []  # CPU: nothing pinned
    encoder._device = "cuda:0"
    batch = encoder.collate(items)
    assert allocations == [True]  # one pinned buffer, the stacked batch
    assert torch.equal(batch, torch.stack(items))
