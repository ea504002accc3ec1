"""Style sets from folders of style-transfer outputs: labels, groups, skips, errors."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from auditkit.data.styles import folders_from_config, style_folder_set
from auditkit.errors import ConfigError, ProbeSetError


def _save(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(path)


def _styles(root: Path, styles=("candy", "udnie"), contents=("c1", "c2", "c3"), ext="png"):
    for i, style in enumerate(styles):
        for j, content in enumerate(contents):
            _save(root / style / f"{content}.{ext}", 100 * i + j)
    return root


def test_label_is_the_style_and_group_the_content(tmp_path):
    styles = style_folder_set([_styles(tmp_path / "nst")])
    assert styles.class_counts() == {"candy": 3, "udnie": 3}
    by_id = {im.id: im for im in styles.images}
    root = tmp_path / "nst"
    candy, udnie = by_id[f"{root}/candy/c2.png"], by_id[f"{root}/udnie/c2.png"]
    assert candy.group == udnie.group == "content/c2"
    assert candy.metadata["style"] == "candy" and candy.metadata["content"] == "c2"
    assert len({im.group for im in styles.images}) == 3
    assert candy.load().mode == "RGB" and not styles.skipped


def test_corrupt_file_is_skipped_with_its_path(tmp_path):
    root = _styles(tmp_path / "nst")
    bad = root / "candy" / "c4.jpg"
    bad.write_bytes(b"not a jpeg")
    styles = style_folder_set([root])
    assert len(styles) == 6
    (skip,) = styles.skipped
    assert skip.path == str(bad) and skip.reason.startswith("unreadable")


def test_relative_folders_resolve_against_the_root_and_merge(tmp_path):
    _styles(tmp_path / "a", styles=("candy",), contents=("c1", "c2"))
    _styles(tmp_path / "b", styles=("candy", "mosaic"), contents=("c2", "c3"), ext="jpg")
    styles = style_folder_set(["a", "b"], root=tmp_path)
    assert styles.class_counts() == {"candy": 4, "mosaic": 2}
    # One content across roots is one group, so it never straddles a split.
    assert sorted({im.group for im in styles.images}) == ["content/c1", "content/c2", "content/c3"]
    assert len({im.id for im in styles.images}) == 6


def test_nested_content_ids_keep_their_subfolder(tmp_path):
    _save(tmp_path / "candy" / "set1" / "c1.png", 1)
    _save(tmp_path / "candy" / "set2" / "c1.png", 2)
    _save(tmp_path / "udnie" / "set1" / "c1.png", 3)
    _save(tmp_path / "udnie" / "set2" / "c1.png", 4)
    groups = {im.group for im in style_folder_set([tmp_path]).images}
    assert groups == {"content/set1/c1", "content/set2/c1"}


def test_style_with_one_content_is_left_out_with_the_reason(tmp_path):
    root = _styles(tmp_path, styles=("candy", "udnie", "mosaic"))
    for content in ("c2", "c3"):
        (root / "mosaic" / f"{content}.png").unlink()
    styles = style_folder_set([root])
    assert styles.classes == ["candy", "udnie"]
    (skip,) = styles.skipped
    assert skip.path.endswith("mosaic/c1.png") and "too few contents" in skip.reason


def test_max_images_keeps_whole_contents(tmp_path):
    styles = style_folder_set([_styles(tmp_path, contents=("c1", "c2", "c3", "c4"))],
                              max_images=5, seed=1)
    assert len(styles) == 4 and styles.class_counts() == {"candy": 2, "udnie": 2}


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ({"c1.png": 1, "c2.png": 2}, "no style subfolders"),
        ({"candy/c1.png": 1, "candy/c2.png": 2}, "1 usable style"),
    ],
    ids=["flat folder", "one style"],
)
def test_unusable_layouts_are_named(tmp_path, layout, message):
    for rel, seed in layout.items():
        _save(tmp_path / rel, seed)
    with pytest.raises(ProbeSetError, match=message):
        style_folder_set([tmp_path])


def test_missing_folder_is_an_error(tmp_path):
    with pytest.raises(ProbeSetError, match="does not exist"):
        style_folder_set(["nowhere"], root=tmp_path)


def test_config_folders_are_validated():
    assert folders_from_config({"folders": "styles"}) == ["styles"]
    with pytest.raises(ConfigError, match="expected a list of folder paths"):
        folders_from_config({"folders": [3]})
