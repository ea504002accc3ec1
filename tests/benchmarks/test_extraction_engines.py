"""benchmarks/extraction.py (issue 15, 5a): its pairs and one local run, on the pixels encoder."""

import json

from extraction import main, pairs_of


def test_every_pair_has_its_own_key_past_one_seed_of_images():
    images, variants = pairs_of(245 * 2 - 1, 2)
    assert len(images) == 245 and len(variants) == 2
    # Images of the second seed have other pixels, so no pair is a cache hit of another.
    assert len({image.sha256 for image in images}) == 245


def test_local_engine_against_the_forward_limit(tmp_path):
    out = tmp_path / "extraction.json"
    assert main(["--pairs", "12", "--variants", "2", "--encoder", "pixels", "--engines", "local",
                 "--workers", "0", "--forward-seconds", "0.3", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    local = result["engines"]["local"]
    # Timed before and after the engine; the ratio is to their mean.
    assert local["forward_pairs_per_s"] == (local["forward_before"] + local["forward_after"]) / 2
    assert result["pairs"] == local["pairs"] == 12
    assert local["ratio"] == local["pairs_per_s"] / local["forward_pairs_per_s"] > 0
    assert "ray" not in result["engines"]
    # Measured under the allocator setting an audit session applies, and says so.
    from auditkit.allocator import retain_freed_memory

    assert result["retain_freed_memory"] is retain_freed_memory()


def test_images_written_as_files_load_without_rendering_again(tmp_path, monkeypatch):
    """Past the renderer's memo, a rendered image costs its rendering at every load: the
    engines would be charged for it, and their ratio fell with N for that reason."""
    from auditkit.data import builtin

    images, _ = pairs_of(245 * 2 - 1, 2, folder=tmp_path)
    assert len(images) == 245 and len({image.sha256 for image in images}) == 245
    assert all(image.path is not None for image in images)

    def render(recipe):
        raise AssertionError(f"rendered {recipe} again")

    monkeypatch.setattr(builtin, "_render", render)
    images[-1].load()  # from its file: rendering it would raise


def test_a_run_on_files_says_so(tmp_path):
    out = tmp_path / "extraction.json"
    assert main(["--pairs", "4", "--variants", "2", "--encoder", "pixels", "--engines", "local",
                 "--workers", "0", "--forward-seconds", "0", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["images_from"] == "files" and result["images_prepared_s"] > 0
