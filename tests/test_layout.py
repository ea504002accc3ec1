from pathlib import Path

import pytest

from auditkit.layout import ReportLayout, encoder_slug


@pytest.mark.parametrize(
    ("spec", "slug"),
    [("pixels", "pixels"), ("open_clip:ViT-B-32/openai", "open_clip_ViT-B-32_openai"),
     ("clip@../ft.safetensors", "clip_.._ft.safetensors")],
)
def test_slug_is_a_single_safe_path_component(spec, slug):
    assert encoder_slug(spec) == slug
    assert "/" not in encoder_slug(spec)


def test_layout_places_results_cards_and_index(tmp_path):
    layout = ReportLayout(tmp_path)
    assert layout.results("timm:resnet18") == tmp_path / "timm_resnet18" / "results.json"
    assert layout.card("timm:resnet18") == tmp_path / "timm_resnet18" / "card.html"
    assert layout.index == tmp_path / "index.html"
    for spec in ("pixels", "timm:resnet18"):
        layout.results(spec).parent.mkdir(parents=True)
        layout.results(spec).write_text("{}")
    (tmp_path / "stray.json").write_text("{}")
    assert layout.all_results() == [Path(tmp_path / "pixels" / "results.json"),
                                    Path(tmp_path / "timm_resnet18" / "results.json")]
