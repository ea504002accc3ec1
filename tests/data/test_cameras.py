"""Camera labels: cleaning EXIF Make/Model, maker aliases, levels, manifest override."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from auditkit.data import folder_probe_set, manifest_probe_set
from auditkit.data.base import SourceImage
from auditkit.data.cameras import (
    MAX_FIELD_CHARS,
    camera_label,
    canonical_make,
    choose_level,
    clean_field,
    is_smartphone,
    label_images,
    normalise_camera,
    read_camera,
)


def _image(id_: str, **metadata: object) -> SourceImage:
    return SourceImage(id=id_, label="all", group=id_, sha256=id_, loader=lambda: None,
                       path=f"/photos/{id_}", metadata=metadata)


@pytest.mark.parametrize(
    ("make", "model", "label"),
    [
        pytest.param("Canon\x00\x00", "Canon EOS 5D\x00", "Canon EOS 5D", id="nul-padding"),
        pytest.param(b"NIKON CORPORATION\x00", b"NIKON D70\x00", "NIKON D70", id="nul-bytes"),
        pytest.param("  SONY ", " ILCE-7M3   ", "SONY ILCE-7M3", id="surrounding-space"),
        pytest.param("Canon", "Canon  EOS\t 5D", "Canon EOS 5D", id="inner-space"),
        pytest.param("CANON", "EOS 5D", "Canon EOS 5D", id="make-case"),
        pytest.param("Canon", "Canon Canon EOS 5D", "Canon EOS 5D", id="make-twice-in-model"),
        pytest.param("NIKON CORPORATION", "NIKON D70", "NIKON D70", id="nikon-alias"),
        pytest.param("OLYMPUS IMAGING CORP.", "E-M5", "OLYMPUS E-M5", id="olympus-imaging"),
        pytest.param("OLYMPUS CORPORATION", "E-M1", "OLYMPUS E-M1", id="olympus-corporation"),
        pytest.param("Samsung Electronics", "SM-G991B", "SAMSUNG SM-G991B", id="samsung"),
        pytest.param("EASTMAN KODAK COMPANY", "KODAK EASYSHARE C813 ZOOM DIGITAL CAMERA",
                     "KODAK EASYSHARE C813 ZOOM DIGITAL CAMERA", id="kodak"),
        pytest.param("PENTAX Corporation", "PENTAX K10D", "PENTAX K10D", id="pentax"),
        pytest.param("RICOH IMAGING COMPANY, LTD.", "PENTAX K-3", "RICOH PENTAX K-3",
                     id="ricoh"),
        pytest.param("LG Electronics", "LG-H850", "LG-H850",
                     id="model-starting-with-the-make-not-prefixed-again"),
        pytest.param("FUJIFILM", "X-T3", "FUJIFILM X-T3", id="fujifilm"),
        pytest.param("Panasonic", "DMC-FZ28", "Panasonic DMC-FZ28", id="panasonic"),
        pytest.param("HUAWEI", "ELE-L29", "HUAWEI ELE-L29", id="huawei"),
        pytest.param("Xiaomi", "Redmi Note 8", "Xiaomi Redmi Note 8", id="xiaomi"),
        pytest.param("Google", "Pixel 4a", "Google Pixel 4a", id="google"),
        pytest.param("Apple", "iPhone 12", "Apple iPhone 12", id="apple"),
        pytest.param("Acme Cams", "X1", "Acme Cams X1", id="unknown-maker-kept"),
        pytest.param(None, "NIKON D70", "NIKON D70", id="make-from-model"),
        pytest.param(None, "iPhone 12", "Apple iPhone 12", id="make-from-product-line"),
        pytest.param(None, "E-M5", "E-M5", id="model-only"),
    ],
)
def test_model_labels(make, model, label):
    assert normalise_camera(make, model).label("model") == label


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        pytest.param(3, "type int", id="int"),
        pytest.param(2.5, "type float", id="float"),
        pytest.param(["Canon"], "type list", id="list"),
        pytest.param(b"\xff\xfeCanon", "not valid UTF-8", id="bad-utf8-bytes"),
        pytest.param("Can\ufffdon", "not valid UTF-8", id="replacement-char-from-read-exif"),
        pytest.param("x" * (MAX_FIELD_CHARS + 1), "characters long", id="absurd-length"),
        pytest.param("Unknown", "placeholder", id="placeholder"),
        pytest.param("Canon\x07", "control characters", id="control-char"),
        pytest.param(" \x00 ", "empty", id="only-padding"),
        pytest.param(None, "no Make", id="absent"),
    ],
)
def test_bad_values_are_missing_with_a_reason(value, reason):
    text, why = clean_field(value, "Make")
    assert text is None and reason in why
    camera = normalise_camera(value, None)
    assert camera.label("make") is None
    assert reason in camera.missing("make")


def test_a_bad_make_does_not_cost_a_model_that_names_its_maker():
    camera = normalise_camera(42, "Canon EOS 5D")
    assert camera.label() == "Canon EOS 5D"
    assert "type int" in camera.problems[0]


@pytest.mark.parametrize(
    ("make", "model", "phone"),
    [
        pytest.param("Apple", "iPhone 12", True, id="iphone"),
        pytest.param("Apple", "iPad Air", False, id="ipad-is-not-a-phone"),
        pytest.param("Google", "Pixel 7", True, id="pixel"),
        pytest.param("SAMSUNG", "SM-G991B", True, id="samsung-sm"),
        pytest.param("SAMSUNG", "Galaxy S4", True, id="samsung-galaxy"),
        pytest.param("SAMSUNG", "WB150F", False, id="samsung-compact"),
        pytest.param("HUAWEI", "ELE-L29", True, id="phone-only-maker"),
        pytest.param("OnePlus", "KB2003", True, id="oneplus"),
        pytest.param("SONY", "ILCE-7M3", False, id="sony-alpha"),
        pytest.param("SONY", "Xperia 1", True, id="sony-xperia"),
        pytest.param("Canon", "EOS 5D", False, id="dslr"),
        pytest.param(None, None, False, id="nothing"),
    ],
)
def test_smartphone_flag(make, model, phone):
    assert is_smartphone(make, model) is phone


def test_levels_of_one_camera():
    phone = normalise_camera("samsung", "SAMSUNG SM-G991B")
    assert [phone.label(level) for level in ("model", "make", "smartphone")] == [
        "SAMSUNG SM-G991B", "SAMSUNG", "smartphone"]
    assert normalise_camera("Canon", "EOS 5D").label("smartphone") == "other camera"
    with pytest.raises(ValueError, match="level='lens'"):
        phone.label("lens")


def test_alias_lookup_tries_the_whole_key_before_its_first_word():
    assert canonical_make("Sony Ericsson") == "Sony Ericsson"
    assert canonical_make("SAMSUNG TECHWIN") == "SAMSUNG"
    assert canonical_make("Research In Motion") == "BlackBerry"


@pytest.mark.parametrize(
    ("metadata", "label", "source"),
    [
        pytest.param({"exif": {"Make": "Canon", "Model": "Canon EOS 5D"}}, "Canon EOS 5D",
                     "exif", id="exif"),
        pytest.param({"camera": "Nikon D750", "exif": {"Make": "Canon", "Model": "EOS 5D"}},
                     "NIKON D750", "manifest", id="camera-column-wins"),
        pytest.param({"Make": "SONY", "MODEL": "ILCE-7M3", "exif": {"Make": "Canon"}},
                     "SONY ILCE-7M3", "manifest", id="make-model-columns-any-case"),
        pytest.param({"camera": "  ", "exif": {"Make": "Canon", "Model": "EOS 5D"}},
                     "Canon EOS 5D", "exif", id="empty-cell-falls-back-to-exif"),
        pytest.param({"camera": "Leica Q2"}, "Leica Q2", "manifest", id="camera-only"),
    ],
)
def test_manifest_columns_override_exif(metadata, label, source):
    camera = read_camera(_image("a.jpg", **metadata))
    assert camera.label() == label and camera.source == source


def test_images_without_a_camera_say_why():
    assert camera_label(_image("a.png", exif={})) is None
    assert "no EXIF" in read_camera(_image("a.png", exif={})).missing()
    no_fields = read_camera(_image("b.jpg", exif={"DateTime": "2020:01:01"}))
    assert "no Make or Model in EXIF" in no_fields.missing()
    bad_column = read_camera(_image("c.jpg", camera=3.0))
    assert "type float" in bad_column.missing() and bad_column.source == "manifest"


def test_label_images_matches_case_folded_and_displays_the_common_spelling():
    images = [
        _image("1.jpg", exif={"Make": "Canon", "Model": "EOS 5D"}),
        _image("2.jpg", exif={"Make": "CANON", "Model": "EOS 5d"}),
        _image("3.jpg", exif={"Make": "Canon", "Model": "EOS 5D"}),
        _image("4.jpg", camera="Sony A7"),
        _image("5.jpg", exif={}),
    ]
    found = label_images(images)
    assert found.counts() == {"Canon EOS 5D": 3, "SONY A7": 1}
    assert found.labels["2.jpg"] == found.labels["1.jpg"] == "canon eos 5d"
    assert found.sources == {"exif": 3, "manifest": 1}
    assert found.missing == [("/photos/5.jpg", "no EXIF (exif); level 'model' needs Model")]
    assert label_images(images, "make").counts() == {"Canon": 3, "SONY": 1}
    with pytest.raises(ValueError, match="level='camera'"):
        label_images(images, "camera")


def _jpeg_with_exif(path: Path, make: object, model: object) -> None:
    exif = Image.Exif()
    exif[0x010F] = make
    exif[0x0110] = model
    arr = np.random.default_rng(len(str(path))).integers(0, 255, (16, 16, 3), dtype=np.uint8)
    Image.fromarray(arr).save(path, format="JPEG", exif=exif)


def test_exif_written_by_pillow_round_trips_through_a_folder_probe_set(tmp_path):
    _jpeg_with_exif(tmp_path / "a.jpg", "NIKON CORPORATION\x00\x00", "NIKON D70 ")
    _jpeg_with_exif(tmp_path / "b.jpg", "Apple", "iPhone 12")
    Image.new("RGB", (16, 16)).save(tmp_path / "c.png")
    found = label_images(folder_probe_set(tmp_path).images, "smartphone")
    assert found.counts() == {"other camera": 1, "smartphone": 1}
    assert [Path(p).name for p, _ in found.missing] == ["c.png"]


def test_manifest_camera_column_labels_files_without_exif(tmp_path):
    for name in ("a.png", "b.png"):
        buf = io.BytesIO()
        Image.new("RGB", (8, 8), (len(name), 0, 0)).save(buf, format="PNG")
        (tmp_path / name).write_bytes(buf.getvalue() + name.encode())
    (tmp_path / "m.csv").write_text("path,camera\na.png,Canon EOS 5D\nb.png,\n")
    found = label_images(manifest_probe_set(tmp_path / "m.csv").images)
    assert found.counts() == {"Canon EOS 5D": 1}
    assert found.sources == {"manifest": 1}
    assert found.missing[0][0].endswith("b.png")


@pytest.mark.parametrize("camera", ["CANON", "Canon", "canon inc."])
def test_manifest_camera_column_naming_only_the_maker_is_a_make_label(camera):
    read = read_camera(_image("a", camera=camera))
    assert (read.make, read.model) == ("Canon", None)
    assert read.label("make") == "Canon" and read.label("model") is None
    assert "names only the maker" in read.missing("model")


def test_exif_model_repeating_the_make_is_not_doubled():
    camera = normalise_camera("Canon", "CANON")
    assert camera.label("model") is None and camera.label("make") == "Canon"


def _photos(cameras: dict[str, int]) -> list[SourceImage]:
    return [_image(f"{name}{i}", camera=name) for name, n in cameras.items() for i in range(n)]


def test_auto_level_takes_models_when_two_have_enough_photos():
    found, why = choose_level(_photos({"Canon EOS 5D": 10, "NIKON D70": 10, "NIKON D80": 3}),
                              "auto", 10)
    assert found.level == "model" and "2 camera models" in why
    assert found.counts() == {"Canon EOS 5D": 10, "NIKON D70": 10, "NIKON D80": 3}


def test_auto_level_falls_back_to_makes_and_says_so():
    found, why = choose_level(_photos({"Canon EOS 5D": 6, "Canon EOS 6D": 6, "NIKON D70": 6,
                                       "NIKON D80": 6}), "auto", 10)
    assert found.level == "make" and found.counts() == {"Canon": 12, "NIKON": 12}
    assert "level 'make'" in why and "--audit-camera-level=model" in why
    assert choose_level(_photos({"Canon EOS 5D": 6}), "model", 10)[0].level == "model"
