"""``torchscript:`` files: loading one runs its code, and the run says so."""

import logging

import pytest

from auditkit.encoders import build_encoder


def test_loading_warns_that_the_archive_runs_code(tmp_path, caplog):
    import torch

    path = tmp_path / "m.pt"
    with pytest.warns(FutureWarning, match="deprecated"):  # TorchScript is deprecated in torch 2.14
        torch.jit.script(torch.nn.Flatten()).save(str(path))
    with caplog.at_level(logging.WARNING, logger="auditkit"):
        build_encoder(f"torchscript:{path}")
    [record] = [r for r in caplog.records if r.name == "auditkit"]
    assert "runs the code" in record.getMessage() and str(path) in record.getMessage()
    assert "trust" in record.getMessage()
