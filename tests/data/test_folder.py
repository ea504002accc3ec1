"""Folder and CSV-manifest probe sets, image decoding, and load_probe_set."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from auditkit.data import (
    FileLoader,
    decode_image_bytes,
    folder_probe_set,
    load_probe_set,
    manifest_probe_set,
)
from auditkit.errors import BadImageError, ProbeSetError


def _texture(seed: int, size: tuple[int, int] = (48, 40)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)


def _save(path: Path, seed: int = 0, fmt: str | None = None, **kwargs: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(_texture(seed)).save(path, format=fmt, **kwargs)
    return path


def _encoded(image: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


needs_symlinks = pytest.mark.skipif(
    sys.platform == "win32", reason="symbolic links need privileges on Windows"
)


# --------------------------------------------------------------------------
# Folders


def test_class_subfolders_give_labels(tmp_path: Path) -> None:
    _save(tmp_path / "cats" / "a.jpg", 1)
    _save(tmp_path / "cats" / "b.png", 2)
    _save(tmp_path / "dogs" / "nested" / "c.JPG", 3, fmt="JPEG")
    _save(tmp_path / "dogs" / "d.webp", 4)
    _save(tmp_path / "dogs" / "e.TIFF", 5, fmt="TIFF")
    _save(tmp_path / "dogs" / "f.bmp", 6)
    (tmp_path / "dogs" / "notes.txt").write_text("not an image")
    _save(tmp_path / ".hidden" / "g.png", 7)

    probe = folder_probe_set(tmp_path)

    assert [im.id for im in probe.images] == [
        "cats/a.jpg",
        "cats/b.png",
        "dogs/d.webp",
        "dogs/e.TIFF",
        "dogs/f.bmp",
        "dogs/nested/c.JPG",
    ]
    assert probe.class_counts() == {"cats": 2, "dogs": 4}
    assert probe.skipped == []
    for im in probe.images:
        assert im.group == im.id
        assert im.sha256 == hashlib.sha256(Path(im.path).read_bytes()).hexdigest()
        assert im.metadata["path"] == im.path
        assert im.load().mode == "RGB"
    png = next(im for im in probe.images if im.id == "cats/b.png")
    assert np.array_equal(np.asarray(png.load()), _texture(2))


def test_flat_folder_has_one_label(tmp_path: Path) -> None:
    for i in range(3):
        _save(tmp_path / f"img{i}.png", i)
    probe = folder_probe_set(tmp_path)
    assert probe.class_counts() == {"all": 3}
    assert probe.name == tmp_path.name


def test_top_level_files_beside_class_folders_are_skipped(tmp_path: Path) -> None:
    _save(tmp_path / "cats" / "a.png", 1)
    _save(tmp_path / "stray.png", 2)
    probe = folder_probe_set(tmp_path)
    assert [im.id for im in probe.images] == ["cats/a.png"]
    assert [(s.path, s.reason.split(":")[0]) for s in probe.skipped] == [
        ("stray.png", "unlabelled")
    ]


def test_unreadable_files_are_skipped_with_reasons(tmp_path: Path) -> None:
    _save(tmp_path / "good.png", 1)
    _save(tmp_path / "good.jpg", 2)
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("hello, I am not a JPEG")
    jpeg = (tmp_path / "good.jpg").read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])

    probe = folder_probe_set(tmp_path)

    assert [im.id for im in probe.images] == ["good.jpg", "good.png"]
    reasons = {s.path: s.reason for s in probe.skipped}
    assert set(reasons) == {"empty.jpg", "text.jpg", "truncated.jpg"}
    assert reasons["empty.jpg"] == "unreadable: empty file"
    assert reasons["text.jpg"] == "unreadable: not an image Pillow can decode"
    assert reasons["truncated.jpg"].startswith("unreadable: ")
    assert "truncated" in reasons["truncated.jpg"]
    assert probe.skipped_counts() == {"unreadable": 3}


def test_identical_bytes_are_kept_once(tmp_path: Path) -> None:
    _save(tmp_path / "a.png", 1)
    (tmp_path / "b.png").write_bytes((tmp_path / "a.png").read_bytes())
    probe = folder_probe_set(tmp_path)
    assert [im.id for im in probe.images] == ["a.png"]
    assert probe.skipped[0].path == "b.png"
    assert probe.skipped[0].reason == "duplicate: same bytes as 'a.png'"


def test_folder_without_usable_images_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "broken.png").write_bytes(b"\x89PNG nonsense")
    (tmp_path / "readme.md").write_text("# photos")
    with pytest.raises(ProbeSetError) as info:
        folder_probe_set(tmp_path)
    message = str(info.value)
    assert repr(str(tmp_path)) in message
    assert "1 file(s) with an image extension and 1 other file(s)" in message
    assert "unreadable x1" in message


def test_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ProbeSetError, match="does not exist"):
        folder_probe_set(tmp_path / "nope")


@needs_symlinks
def test_symlink_loop_ends_and_linked_folders_are_followed(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _save(root / "cats" / "a.png", 1)
    os.symlink(root, root / "cats" / "loop", target_is_directory=True)
    outside = tmp_path / "elsewhere"
    _save(outside / "b.png", 2)
    os.symlink(outside, root / "dogs", target_is_directory=True)
    os.symlink(root / "missing.png", root / "cats" / "dangling.png")

    probe = folder_probe_set(root)

    assert [im.id for im in probe.images] == ["cats/a.png", "dogs/b.png"]
    assert [s.path for s in probe.skipped] == ["cats/dangling.png"]
    assert probe.skipped[0].reason.startswith("unreadable: ")


def test_max_images_is_balanced_and_seeded(tmp_path: Path) -> None:
    for label, n in (("a", 6), ("b", 6), ("c", 2)):
        for i in range(n):
            _save(tmp_path / label / f"{i}.png", 100 * ord(label) + i)  # distinct bytes
    probe = folder_probe_set(tmp_path, seed=0, max_images=7)
    assert probe.class_counts() == {"a": 3, "b": 2, "c": 2}
    ids = [im.id for im in probe.images]
    assert ids == sorted(ids)
    picks = {
        tuple(im.id for im in folder_probe_set(tmp_path, seed=s, max_images=7).images)
        for s in range(5)
    }
    assert len(picks) > 1


# --------------------------------------------------------------------------
# Decoding


def test_cmyk_jpeg_converts_to_rgb() -> None:
    data = _encoded(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG", quality=95)
    image, info = decode_image_bytes(data)
    assert (info.mode, image.mode) == ("CMYK", "RGB")
    r, g, b = image.getpixel((8, 8))
    assert r > 200 and g < 60 and b < 60


def test_palette_png_with_transparency_goes_over_white() -> None:
    palette = Image.new("P", (8, 8), 0)
    palette.putpalette([0, 0, 0, 255, 0, 0])
    palette.paste(1, (4, 0, 8, 8))
    image, info = decode_image_bytes(_encoded(palette, "PNG", transparency=0))
    assert (info.mode, image.mode) == ("P", "RGB")
    assert image.getpixel((0, 0)) == (255, 255, 255)
    assert image.getpixel((6, 0)) == (255, 0, 0)


def test_la_and_rgba_go_over_white() -> None:
    la = Image.new("LA", (4, 4), (0, 0))
    assert decode_image_bytes(_encoded(la, "PNG"))[0].getpixel((0, 0)) == (255, 255, 255)
    rgba = Image.new("RGBA", (4, 4), (0, 0, 255, 255))
    assert decode_image_bytes(_encoded(rgba, "PNG"))[0].getpixel((0, 0)) == (0, 0, 255)


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16_bit_scales_to_8_bit(fmt: str) -> None:
    values = np.array([[0, 257 * 100, 65535, 32768]], dtype=np.uint16)
    image, info = decode_image_bytes(_encoded(Image.fromarray(values), fmt))
    assert info.mode.startswith("I;16")
    assert image.mode == "RGB"
    assert [image.getpixel((x, 0)) for x in range(4)] == [
        (0, 0, 0),
        (100, 100, 100),
        (255, 255, 255),
        (128, 128, 128),
    ]


def test_float_tiff_scales_to_8_bit() -> None:
    values = np.array([[0.0, 0.5, 1.0]], dtype=np.float32)
    image, _ = decode_image_bytes(_encoded(Image.fromarray(values), "TIFF"))
    assert [image.getpixel((x, 0))[0] for x in range(3)] == [0, 128, 255]


def test_grayscale_and_bilevel_convert_to_rgb() -> None:
    gray, info = decode_image_bytes(_encoded(Image.new("L", (4, 4), 100), "PNG"))
    assert (info.mode, gray.getpixel((0, 0))) == ("L", (100, 100, 100))
    bilevel, _ = decode_image_bytes(_encoded(Image.new("1", (4, 4), 1), "BMP"))
    assert bilevel.getpixel((0, 0)) == (255, 255, 255)


def test_decompression_bomb_is_a_bad_image(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _encoded(Image.new("RGB", (64, 64)), "PNG")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    # 4096 pixels: above the limit but under twice it would only warn; both refuse.
    with pytest.raises(BadImageError, match="decompression bomb"):
        decode_image_bytes(data)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 3000)
    with pytest.raises(BadImageError, match="decompression bomb"):
        decode_image_bytes(data)


def test_exif_fields_are_read_as_clean_text(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x010F] = "Canon\x00\x00"
    exif[0x0110] = "EOS 5D"
    exif[0x0132] = "2024:05:01 12:00:00"
    exif[0x0112] = 6  # orientation: kept as a field, pixels are not rotated
    _save(tmp_path / "photo.jpg", 1, exif=exif)

    (image,) = folder_probe_set(tmp_path).images

    fields = image.metadata["exif"]
    assert fields["Make"] == "Canon"
    assert fields["Model"] == "EOS 5D"
    assert fields["DateTime"] == "2024:05:01 12:00:00"
    assert fields["Orientation"] == "6"
    assert image.load().size == (48, 40)


def test_images_without_exif_have_empty_fields(tmp_path: Path) -> None:
    _save(tmp_path / "plain.png", 1)
    assert folder_probe_set(tmp_path).images[0].metadata["exif"] == {}


def test_loader_pickles_and_detects_changed_files(tmp_path: Path) -> None:
    _save(tmp_path / "a.png", 1)
    (image,) = folder_probe_set(tmp_path).images
    assert isinstance(image.loader, FileLoader)
    loader = pickle.loads(pickle.dumps(image.loader))
    assert np.array_equal(np.asarray(loader()), np.asarray(image.load()))
    _save(tmp_path / "a.png", 2)
    with pytest.raises(BadImageError, match="changed since"):
        loader()


# --------------------------------------------------------------------------
# CSV manifests


def test_manifest_with_label_group_and_extra_columns(tmp_path: Path) -> None:
    _save(tmp_path / "imgs" / "a.png", 1)
    _save(tmp_path / "imgs" / "b.png", 2)
    outside = _save(tmp_path / "other" / "c.png", 3)
    manifest = tmp_path / "lists" / "probe.csv"
    manifest.parent.mkdir()
    manifest.write_text(
        "path,label,group,camera\n"
        "../imgs/a.png,cat,shoot1,Canon EOS 5D\n"
        "../imgs/b.png,dog,shoot1,Nikon D750\n"
        f"{outside},dog,,Sony A7\n"
    )

    probe = manifest_probe_set(manifest)

    assert probe.name == "probe"
    assert probe.class_counts() == {"cat": 1, "dog": 2}
    by_camera = {im.metadata["camera"]: im for im in probe.images}
    assert by_camera["Canon EOS 5D"].group == "shoot1"
    assert by_camera["Canon EOS 5D"].id == "../imgs/a.png"
    assert by_camera["Sony A7"].group == by_camera["Sony A7"].id
    assert by_camera["Nikon D750"].path == str(tmp_path / "imgs" / "b.png")
    assert probe.skipped == []


def test_manifest_without_label_column_uses_one_label(tmp_path: Path) -> None:
    _save(tmp_path / "a.png", 1)
    (tmp_path / "m.csv").write_text("path\na.png\n")
    probe = manifest_probe_set(tmp_path / "m.csv")
    assert probe.class_counts() == {"all": 1}
    assert probe.images[0].id == "a.png"
    assert probe.images[0].group == "a.png"


def test_manifest_without_path_column_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("file,label\na.png,cat\n")
    with pytest.raises(ProbeSetError) as info:
        manifest_probe_set(tmp_path / "m.csv")
    message = str(info.value)
    assert repr(str(tmp_path / "m.csv")) in message
    assert "['file', 'label']" in message


def test_manifest_skips_missing_duplicate_and_unreadable_rows(tmp_path: Path) -> None:
    _save(tmp_path / "a.png", 1)
    _save(tmp_path / "b.png", 2)
    (tmp_path / "bad.jpg").write_text("nope")
    rows = ["path,label", "a.png,x", "gone.png,x", "./a.png,y", "bad.jpg,x", ",x", "b.png,"]
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")

    probe = manifest_probe_set(tmp_path / "m.csv")

    assert [(im.id, im.label) for im in probe.images] == [("a.png", "x")]
    reasons = {s.path: s.reason for s in probe.skipped}
    assert reasons["gone.png"].startswith("missing: ")
    assert reasons["a.png"].startswith("duplicate: line 4 repeats the path of line 2")
    assert reasons["bad.jpg"].startswith("unreadable: ")
    assert reasons["m.csv:6"] == "missing: line 6 has an empty path"
    assert reasons["b.png"].startswith("unlabelled: ")
    assert probe.skipped_counts() == {
        "missing": 2,
        "duplicate": 1,
        "unreadable": 1,
        "unlabelled": 1,
    }


def test_empty_manifest_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("")
    with pytest.raises(ProbeSetError, match="cannot parse manifest"):
        manifest_probe_set(tmp_path / "m.csv")


# --------------------------------------------------------------------------
# load_probe_set


def test_load_probe_set_dispatches(tmp_path: Path) -> None:
    _save(tmp_path / "imgs" / "cats" / "a.png", 1)
    (tmp_path / "m.CSV").write_text("path,label\nimgs/cats/a.png,cat\n")

    assert load_probe_set(tmp_path / "imgs").class_counts() == {"cats": 1}
    assert load_probe_set(str(tmp_path / "m.CSV")).class_counts() == {"cat": 1}
    for spec in (None, "builtin", "BUILTIN"):
        probe = load_probe_set(spec, max_images=6)
        assert probe.name == "builtin"
        assert len(probe.classes) == 6


@pytest.mark.parametrize("name", ["notes.txt", "missing_dir"])
def test_load_probe_set_refuses_other_specs(tmp_path: Path, name: str) -> None:
    if name.endswith(".txt"):
        (tmp_path / name).write_text("x")
    spec = str(tmp_path / name)
    with pytest.raises(ProbeSetError) as info:
        load_probe_set(spec)
    assert repr(spec) in str(info.value)
    assert "'builtin', a folder of images or a .csv manifest" in str(info.value)
