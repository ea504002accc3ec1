import copy

import pytest
import torch

from auditkit.encoders import build_encoder
from auditkit.encoders.fusion import fold_batchnorm
from auditkit.encoders.options import LoadOptions


def _norms(module):
    return sum(isinstance(m, torch.nn.BatchNorm2d) for m in module.modules())


def _with_running_stats(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return model.eval()


@pytest.mark.parametrize("arch", ["tf_efficientnet_lite0", "resnet18"])
def test_folded_timm_model_gives_the_same_features(arch):
    import timm

    torch.manual_seed(0)
    model = _with_running_stats(timm.create_model(arch, pretrained=False, num_classes=0))
    original = copy.deepcopy(model)
    x = torch.randn(4, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    assert fold_batchnorm(model, x[:2]) == _norms(original)
    assert _norms(model) == 0
    with torch.inference_mode():
        want, got = original(x), model(x)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4 * float(want.abs().max()))


class _Misleading(torch.nn.Module):
    """A batch norm registered after a convolution but applied to the input."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(3)

    def forward(self, x):
        return self.conv(self.bn(x)).flatten(1)


def test_a_fold_that_changes_the_output_is_undone():
    model = _with_running_stats(_Misleading())
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        want = model(x)
    assert fold_batchnorm(model, x) == 0
    assert isinstance(model.bn, torch.nn.BatchNorm2d) and type(model.conv) is torch.nn.Conv2d
    with torch.inference_mode():
        torch.testing.assert_close(model(x), want, rtol=0, atol=0)


def test_a_model_in_training_mode_is_left_alone():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4)).train()
    assert fold_batchnorm(model, torch.randn(1, 3, 8, 8)) == 0
    assert _norms(model) == 1


def test_built_timm_encoders_run_folded_and_keep_the_model_as_loaded():
    import timm

    from auditkit.encoders.weights import state_dict_sha256

    encoder = build_encoder("random:timm:resnet18", LoadOptions(seed=3)).to("cpu")
    assert _norms(encoder._forward) == 0
    torch.manual_seed(3)
    fresh = timm.create_model("resnet18", pretrained=False, num_classes=0)
    # The module, its state dict and the weights' digest are the model as initialised.
    assert _norms(encoder.module) == _norms(fresh)
    assert encoder.module.state_dict().keys() == fresh.state_dict().keys()
    assert encoder.weights_sha256 == state_dict_sha256(fresh.state_dict())
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        want = encoder.module(x)
    got = torch.as_tensor(encoder.embed_batch(x))
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4 * float(want.abs().max()))


def test_folded_channels_last_encoder_embeds_like_its_model():
    encoder = build_encoder("random:efficientnet-lite0").to("cpu")
    assert encoder._channels_last and _norms(encoder._forward) == 0
    # Inference tensors as weights fail the forward wherever grad mode is on.
    assert not any(p.is_inference() for p in encoder._forward.parameters())
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        want = encoder.module(x)
    got = torch.as_tensor(encoder.embed_batch(x))
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4 * float(want.abs().max()))
