import numpy as np

from auditkit.cache import EmbeddingCache
from auditkit.cli import main


def test_encoders_lists_aliases_and_forms(capsys):
    assert main(["encoders"]) == 0
    out = capsys.readouterr().out
    for text in ("clip", "open_clip:ViT-B-32/openai", "dinov2", "random:SPEC", "SPEC@PATH"):
        assert text in out


def test_init_writes_audits_and_config_once(tmp_path, capsys):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "mine"\n')
    assert main(["init", str(tmp_path)]) == 0
    assert (tmp_path / "audits" / "test_jpeg_quality.py").is_file()
    text = (tmp_path / "pyproject.toml").read_text()
    assert text.startswith('[project]\nname = "mine"') and text.count("[tool.auditkit]") == 1
    main(["init", str(tmp_path)])
    assert (tmp_path / "pyproject.toml").read_text().count("[tool.auditkit]") == 1
    assert "kept" in capsys.readouterr().out


def test_cache_info_and_clear(tmp_path, capsys):
    EmbeddingCache(tmp_path).put("fpabc", "1" * 64, np.ones(3, np.float32))
    assert main(["cache", "info", "--cache-dir", str(tmp_path)]) == 0
    assert "fpabc" in capsys.readouterr().out
    assert main(["cache", "clear", "--cache-dir", str(tmp_path)]) == 0
    assert "removed 1 entries" in capsys.readouterr().out
