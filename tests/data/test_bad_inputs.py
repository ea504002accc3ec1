"""Bad inputs: a generated folder of broken, odd and hostile files.

Each row of ``CASES`` is one file and what must become of it: usable images in
any mode are kept as 8-bit RGB, broken ones are skipped with a reason that
starts with its kind (``unreadable``, ``too large``, ``too small``,
``duplicate``), and the set is built from the rest. ``pytest -s`` prints the
outcome of every case.
"""

from __future__ import annotations

import io
import json
import os
import re
import struct
import sys
import textwrap
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
import timm
from PIL import Image

from auditkit.data import SourceImage, builtin_probe_set, load_probe_set, manifest_probe_set
from auditkit.data.base import MIN_IMAGES, ProbeSet, Skipped
from auditkit.encoders import build_encoder
from auditkit.errors import ProbeSetError
from auditkit.extract import Extractor
from auditkit.measures import jpeg_quality

# pytester's in-process runs drop modules first imported inside them; torch
# registers operator libraries once per process, so import them out here.
timm.list_models("resnet*")

STOCK = Path(__file__).resolve().parents[2] / "audits" / "test_jpeg_quality.py"
POSIX = sys.platform != "win32"


# --------------------------------------------------------------------------
# Writing the files


def _texture(seed: int, size: tuple[int, int] = (48, 40), channels: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0], channels) if channels > 1 else (size[1], size[0])
    return rng.integers(0, 256, size=shape, dtype=np.uint8)


def _jpeg_bytes(seed: int, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(_texture(seed)).save(buffer, format="JPEG", quality=90, **kwargs)
    return buffer.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _bomb_png(width: int, height: int) -> bytes:
    """A valid PNG header announcing ``width x height`` RGB pixels, with no pixels."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + _png_chunk(b"IEND", b"")
    )


ASCII, LONG, UNDEFINED = 2, 4, 7


def _exif(*entries: tuple[int, int, int, bytes]) -> bytes:
    """A little-endian EXIF block from raw ``(tag, type, count, payload)`` entries.

    Written by hand so that values can break the rules (bytes that are not
    UTF-8, wrong types, counts pointing past the end) as real files do.
    """
    data_start = 8 + 2 + 12 * len(entries) + 4
    ifd, extra = struct.pack("<H", len(entries)), b""
    for tag, kind, count, payload in entries:
        if len(payload) <= 4:
            ifd += struct.pack("<HHI", tag, kind, count) + payload.ljust(4, b"\0")
        else:
            ifd += struct.pack("<HHII", tag, kind, count, data_start + len(extra))
            extra += payload
    return b"Exif\0\0II*\0" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + extra


def _ascii(tag: int, raw: bytes) -> tuple[int, int, int, bytes]:
    return (tag, ASCII, len(raw), raw)


MAKE, MODEL = 0x010F, 0x0110


def _save(array: np.ndarray, **kwargs: object) -> Callable[[Path], None]:
    return lambda path: Image.fromarray(array).save(path, **kwargs)


def _write(data: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data)


def _gray16(path: Path) -> None:
    values = _texture(2, channels=1).astype(np.uint16) * 257
    values[0, :3] = (0, 100 * 257, 65535)
    Image.fromarray(values).save(path)


def _rgb16(path: Path) -> None:
    values = _texture(3).astype(np.uint16) * 257
    values[0, 0] = (10 * 257, 20 * 257, 30 * 257)
    # Pillow cannot write 48-bit PNGs; OpenCV can (it takes BGR order).
    assert cv2.imwrite(str(path), values[:, :, ::-1].copy())


def _cmyk(path: Path) -> None:
    Image.new("CMYK", (48, 40), (0, 255, 255, 0)).save(path, quality=95)


def _palette_with_transparency(path: Path) -> None:
    image = Image.new("P", (48, 40), 0)
    image.putpalette([0, 0, 0, 255, 0, 0])
    image.paste(1, (24, 0, 48, 40))
    image.save(path, transparency=0)


def _jpeg_with_exif(seed: int, exif: bytes) -> Callable[[Path], None]:
    return _write(_jpeg_bytes(seed, exif=exif))


def _symlink(target: str) -> Callable[[Path], None]:
    return lambda path: os.symlink(target, path)


# --------------------------------------------------------------------------
# The cases


def _rgb_at(image: SourceImage, xy: tuple[int, int]) -> tuple[int, ...]:
    return tuple(image.load().getpixel(xy))


def _exif_is(**fields: str) -> Callable[[SourceImage], None]:
    def check(image: SourceImage) -> None:
        exif = image.metadata["exif"]
        for name, want in fields.items():
            assert exif.get(name) == want, (name, exif.get(name))

    return check


def _check_gray16(image: SourceImage) -> None:
    assert image.metadata["mode"].startswith("I;16")
    assert [_rgb_at(image, (x, 0)) for x in range(3)] == [(0,) * 3, (100,) * 3, (255,) * 3]


def _check_cmyk(image: SourceImage) -> None:
    assert image.metadata["mode"] == "CMYK"
    r, g, b = _rgb_at(image, (24, 20))
    assert r > 200 and g < 60 and b < 60


def _check_palette(image: SourceImage) -> None:
    assert image.metadata["mode"] == "P"
    assert _rgb_at(image, (0, 0)) == (255, 255, 255)  # transparent: over white
    assert _rgb_at(image, (30, 0)) == (255, 0, 0)


def _check_gray(image: SourceImage) -> None:
    assert image.metadata["mode"] == "L"
    r, g, b = _rgb_at(image, (5, 5))
    assert r == g == b == _texture(6, channels=1)[5, 5]


def _check_long(image: SourceImage) -> None:
    assert image.metadata["exif"]["Make"] == "A" * 256
    assert image.metadata["exif"]["Model"] == "EOS 5D"


@dataclass(frozen=True)
class Case:
    name: str
    what: str
    write: Callable[[Path], None]
    #: ``None``: kept; else a regular expression the skip reason must match.
    skipped: str | None = None
    check: Callable[[SourceImage], None] | None = None
    needs: str | None = None  # "symlinks" or "bytes names" where the platform has them

    @property
    def id(self) -> str:
        """The id the probe set gives the file (non-UTF-8 bytes shown as escapes)."""
        return os.fsencode(self.name).decode("utf-8", "backslashreplace")


CASES = [
    Case("empty.jpg", "zero-byte file", _write(b""), r"unreadable: empty file$"),
    Case("truncated.jpg", "JPEG cut in half", _write(_jpeg_bytes(1)[:900]),
         r"unreadable: .*truncated"),
    Case("text.jpg", "a text file named .jpg", _write(b"I am a text file, not a JPEG\n"),
         r"unreadable: not an image Pillow can decode$"),
    Case("bomb.png", "67-byte PNG whose header says 100000 x 100000",
         _write(_bomb_png(100_000, 100_000)),
         r"too large: 10,000,000,000 pixels, over the decompression bomb limit "
         r"PIL\.Image\.MAX_IMAGE_PIXELS=\d+; downscale it or raise the limit$"),
    Case("one_pixel.png", "1 x 1 image", _save(np.full((1, 1, 3), 200, np.uint8)),
         r"too small: 1x1 pixels, under 8 a side \(one JPEG block\)"),
    Case("thin.png", "64 x 4 strip", _save(_texture(20, (64, 4))), r"too small: 64x4 pixels"),
    Case("eight.png", "8 x 8 image: one JPEG block, the smallest kept",
         _save(_texture(21, (8, 8)))),
    Case("gray16.png", "16-bit grayscale PNG", _gray16, check=_check_gray16),
    Case("rgb16.png", "48-bit RGB PNG", _rgb16,
         check=lambda im: _rgb_at(im, (0, 0)) == (10, 20, 30) or pytest.fail("not scaled")),
    Case("cmyk.jpg", "CMYK JPEG (Adobe)", _cmyk, check=_check_cmyk),
    Case("palette_alpha.png", "palette PNG with a transparent index",
         _palette_with_transparency, check=_check_palette),
    Case("gray.png", "8-bit grayscale", _save(_texture(6, channels=1)), check=_check_gray),
    Case("misnamed.png", "a JPEG named .png", _write(_jpeg_bytes(7)),
         check=lambda im: im.metadata["format"] == "JPEG" or pytest.fail("format")),
    Case("exif_nul.jpg", "EXIF text padded with NULs and written as UTF-16",
         _jpeg_with_exif(8, _exif(_ascii(MAKE, "Canon".encode("utf-16-le") + b"\0"),
                                  _ascii(MODEL, b"EOS 5D\0\0\0\0\0"))),
         check=_exif_is(Make="Canon", Model="EOS 5D")),
    Case("exif_utf8.jpg", "EXIF ASCII tags holding UTF-8 and bytes that are not UTF-8",
         _jpeg_with_exif(9, _exif(_ascii(MAKE, "Café Cam\0".encode()),
                                  _ascii(MODEL, b"Nik\xf3n\x80\0"))),
         check=_exif_is(Make="Café Cam", Model="Nikón")),
    Case("exif_long.jpg", "60000-character Make, Model with a newline and a tab",
         _jpeg_with_exif(10, _exif(_ascii(MAKE, b"A" * 60000 + b"\0"),
                                   _ascii(MODEL, b"EOS\n\t5D\0"))),
         check=_check_long),
    Case("exif_types.jpg", "Make stored as a number, Model as raw bytes",
         _jpeg_with_exif(11, _exif((MAKE, LONG, 1, struct.pack("<I", 123456)),
                                   (MODEL, UNDEFINED, 3, b"D70"))),
         check=_exif_is(Make="123456", Model="D70")),
    Case("exif_garbage.jpg", "EXIF block that is not TIFF",
         _jpeg_with_exif(12, b"Exif\0\0II*\0\xff\xff\xff\x7fgarbage"),
         check=lambda im: im.metadata["exif"] == {} or pytest.fail("exif")),
    Case("exif_overflow.jpg", "EXIF count pointing 2 GB past the block",
         _jpeg_with_exif(13, _exif((MAKE, ASCII, 0x7FFFFFFF, b"Canon\0\0\0"))),
         check=lambda im: "Make" not in im.metadata["exif"] or pytest.fail("exif")),
    Case("no_exif.png", "no EXIF at all", _save(_texture(14)),
         check=lambda im: im.metadata["exif"] == {} or pytest.fail("exif")),
    Case("café photo 写真 ü.jpg", "unicode and spaces in the name", _write(_jpeg_bytes(15))),
    Case("dup_a.png", "first of two identical files", _save(_texture(16))),
    Case("dup_b.png", "same bytes as dup_a.png", _save(_texture(16)),
         r"duplicate: same bytes as 'dup_a\.png'$"),
    Case("self_loop.jpg", "symbolic link to itself", _symlink("self_loop.jpg"),
         r"unreadable: ", needs="symlinks"),
    Case(os.fsdecode(b"latin1_\xe9t\xe9.jpg"), "file name that is not UTF-8",
         _write(_jpeg_bytes(17)), needs="bytes names"),
    Case(os.fsdecode(b"empty_\xff.jpg"), "empty file whose name is not UTF-8", _write(b""),
         r"unreadable: empty file$", needs="bytes names"),
]


def _can(needs: str | None, root: Path) -> bool:
    if needs is None:
        return True
    if not POSIX:
        return False
    if needs == "bytes names":
        try:
            probe = root / os.fsdecode(b"probe_\xff")
            probe.write_bytes(b"")
            probe.unlink()
        except (OSError, UnicodeError):  # macOS and others insist on UTF-8 names
            return False
    return True


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bad_inputs")
    for case in CASES:
        if _can(case.needs, root):
            case.write(root / case.name)
    if POSIX:
        # A folder linking back to the root: the walk must end, visiting it once.
        os.symlink(root, root / "loop", target_is_directory=True)
    return root


@pytest.fixture(scope="module")
def loaded(corpus: Path) -> ProbeSet:
    return load_probe_set(corpus)


def _present(corpus: Path) -> list[Case]:
    return [c for c in CASES if os.path.lexists(corpus / c.name)]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_each_case_is_kept_or_skipped_with_its_reason(case: Case, corpus: Path,
                                                      loaded: ProbeSet) -> None:
    if not os.path.lexists(corpus / case.name):
        pytest.skip(f"this platform has no {case.needs}")
    kept = {im.id: im for im in loaded.images}
    reasons = {s.path: s.reason for s in loaded.skipped}
    if case.skipped is None:
        assert case.id in kept, reasons.get(case.id)
        image = kept[case.id]
        picture = image.load()
        exif = {k: v if len(v) < 40 else v[:37] + "..." for k, v in image.metadata["exif"].items()}
        print(f"\n{case.id!r} ({case.what}): kept, mode {image.metadata['mode']} -> RGB "
              f"{picture.size[0]}x{picture.size[1]}" + (f", EXIF {exif}" if exif else ""))
        assert picture.mode == "RGB"
        assert list(picture.size) == image.metadata["size"]
        assert np.asarray(picture).dtype == np.uint8
        if case.check is not None:
            case.check(image)
    else:
        assert case.id in reasons, f"{case.id!r} was kept"
        print(f"\n{case.id!r} ({case.what}): skipped: {reasons[case.id]}")
        assert re.match(case.skipped, reasons[case.id]), reasons[case.id]
        assert case.id not in kept


def test_the_rest_is_loaded_and_the_skips_are_counted(corpus: Path, loaded: ProbeSet) -> None:
    present = _present(corpus)
    kept = sorted(c.id for c in present if c.skipped is None)
    assert [im.id for im in loaded.images] == kept
    assert [s.path for s in loaded.skipped] == sorted(c.id for c in present if c.skipped)
    expected: dict[str, int] = {}
    for case in present:
        if case.skipped:
            kind = case.skipped.split(":")[0]
            expected[kind] = expected.get(kind, 0) + 1
    assert loaded.skipped_counts() == expected
    # Everything in a result must survive a UTF-8 writer.
    json.dumps([im.id for im in loaded.images] + [s.path for s in loaded.skipped],
               ensure_ascii=False).encode("utf-8")


@pytest.mark.skipif(not POSIX, reason="symbolic links need privileges on Windows")
def test_a_folder_linking_to_its_root_is_walked_once(loaded: ProbeSet) -> None:
    assert not [im.id for im in loaded.images if im.id.startswith("loop/")]
    assert len({im.id for im in loaded.images}) == len(loaded.images)


def test_bomb_is_refused_from_its_header(corpus: Path) -> None:
    # 10^10 RGB pixels would be 30 GB: refusing it must not allocate them.
    assert (corpus / "bomb.png").stat().st_size < 100


# --------------------------------------------------------------------------
# CSV manifests


def test_manifest_rows_missing_duplicate_malformed_and_broken(corpus: Path,
                                                              tmp_path: Path) -> None:
    base = tmp_path / "lists"
    base.mkdir()
    c = corpus.as_posix()
    lines = [
        "path,label,group,camera",
        f"{c}/gray.png,a,shoot1,Canon",        # 2 kept
        f"{c}/cmyk.jpg,b",                      # 3 kept: short row, group and camera empty
        f"{c}/eight.png,b,,",                   # 4 kept
        f"{c}/gone.png,a,,",                    # 5 missing file
        ",a,,",                                 # 6 empty path
        "",                                     # 7 blank line: ignored
        f"{c}/gray.png,b,,",                    # 8 repeats line 2
        f"{c}/rgb16.png,,,",                    # 9 no label
        f"{c}/photos/a,b.png,a,,",              # 10 unquoted comma: 5 fields
        f'"{c}/dir,with,comma.png",a,,',        # 11 quoted comma: one field, no such file
        f"{c}/text.jpg,a,,",                    # 12 not an image
        f"{c}/bomb.png,b,,",                    # 13 decompression bomb
        f"{c}/one_pixel.png,a,,",               # 14 too small
        f"{c}/dup_b.png,a,,",                   # 15 same bytes as line 16's file...
        f"{c}/dup_a.png,a,,",                   # 16 ...which it comes before
        f"{c},a,,",                             # 17 a folder
    ]
    manifest = base / "probe.csv"
    # A byte-order mark, as spreadsheets write: the header must still be found.
    manifest.write_bytes("\ufeff".encode() + "\n".join(lines).encode() + b"\n")

    probe = manifest_probe_set(manifest)

    rel = os.path.relpath(corpus, base).replace(os.sep, "/")
    ids = {name: f"{rel}/{name}" for name in
           ("gray.png", "cmyk.jpg", "eight.png", "dup_b.png", "dup_a.png")}
    assert [(im.id, im.label) for im in probe.images] == sorted([
        (ids["gray.png"], "a"), (ids["cmyk.jpg"], "b"), (ids["eight.png"], "b"),
        (ids["dup_b.png"], "a"),
    ])
    by_id = {im.id: im for im in probe.images}
    assert by_id[ids["gray.png"]].group == "shoot1"
    assert by_id[ids["gray.png"]].metadata["camera"] == "Canon"
    assert by_id[ids["cmyk.jpg"]].group == ids["cmyk.jpg"]
    assert by_id[ids["cmyk.jpg"]].metadata["camera"] == ""
    for skip in probe.skipped:
        print(f"\n{skip.path}: {skip.reason}")
    reasons = {s.path: s.reason for s in probe.skipped}
    expected = {
        f"{rel}/gone.png": r"missing: '.*gone\.png' is no such file$",
        "probe.csv:6": r"missing: line 6 has an empty path$",
        f"{rel}/gray.png": r"duplicate: line 8 repeats the path of line 2; the first is kept$",
        f"{rel}/rgb16.png": r"unlabelled: line 9 has an empty label",
        "probe.csv:10": r"malformed: line 10 has 5 fields, the header 4; quote values",
        f"{rel}/dir,with,comma.png": r"missing: .* is no such file$",
        f"{rel}/text.jpg": r"unreadable: not an image Pillow can decode$",
        f"{rel}/bomb.png": r"too large: 10,000,000,000 pixels",
        f"{rel}/one_pixel.png": r"too small: 1x1 pixels",
        f"{rel}/dup_a.png": r"duplicate: same bytes as '.*dup_b\.png'$",
        rel: r"missing: .* is a folder, not a file$",
    }
    assert set(reasons) == set(expected)
    for path, pattern in expected.items():
        assert re.match(pattern, reasons[path]), (path, reasons[path])
    assert probe.skipped_counts() == {"missing": 4, "duplicate": 2, "unlabelled": 1,
                                      "malformed": 1, "unreadable": 1, "too large": 1,
                                      "too small": 1}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("file,label\na.png,x\n", r"has no 'path' column \(columns found: "
                     r"\['file', 'label'\]\)", id="no-path-column"),
        pytest.param("path,label,path\na.png,x,b.png\n", r"names the column\(s\) \['path'\] "
                     "more than once", id="repeated-column"),
        pytest.param("", r"cannot parse manifest .* \(no header row\)", id="empty-file"),
        pytest.param("\n\n", r"cannot parse manifest .* \(no header row\)", id="blank-lines"),
        pytest.param("path\n", r"no usable image in manifest .*: found 0 row\(s\)",
                     id="header-only"),
    ],
)
def test_manifest_that_cannot_be_used_at_all_is_an_error(tmp_path: Path, text: str,
                                                         message: str) -> None:
    (tmp_path / "m.csv").write_text(text)
    with pytest.raises(ProbeSetError, match=message) as info:
        manifest_probe_set(tmp_path / "m.csv")
    print(f"\n{info.value}")
    assert repr(str(tmp_path / "m.csv")) in str(info.value)


def test_manifest_that_is_not_utf8_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_bytes("path,label\ncafé.png,x\n".encode("utf-16"))
    with pytest.raises(ProbeSetError, match="save it as UTF-8 CSV"):
        manifest_probe_set(tmp_path / "m.csv")


# --------------------------------------------------------------------------
# Sets left too small


def _small_set(n: int) -> ProbeSet:
    probe = builtin_probe_set(seed=0, max_images=n)
    probe.skipped = [Skipped("bad.jpg", "unreadable: empty file")]
    return probe


def test_a_set_left_too_small_is_an_error_naming_what_was_skipped(tmp_path: Path) -> None:
    for i in range(3):
        Image.fromarray(_texture(40 + i)).save(tmp_path / f"ok_{i}.png")
    for i in range(4):
        (tmp_path / f"broken_{i}.jpg").write_bytes(b"")
    probe = load_probe_set(tmp_path)
    assert len(probe) == 3
    with pytest.raises(ProbeSetError) as info:
        probe.require(purpose="the JPEG audit")
    message = str(info.value)
    print(f"\n{message}")
    assert f"probe set {tmp_path.name!r} has 3 usable image(s) in 1 class(es) {{'all': 3}}" \
        in message
    assert f"the JPEG audit needs at least {MIN_IMAGES} images" in message
    assert "4 input(s) were skipped (unreadable x4), e.g. 'broken_0.jpg': unreadable: empty" \
        in message


@pytest.mark.parametrize(
    ("n", "min_classes", "ok"),
    [
        pytest.param(MIN_IMAGES - 1, 1, False, id="one-short"),
        pytest.param(MIN_IMAGES, 1, True, id="enough"),
        pytest.param(12, 2, True, id="two-classes-needed-six-there"),
    ],
)
def test_require_counts_images_and_classes(n: int, min_classes: int, ok: bool) -> None:
    probe = _small_set(n)
    if ok:
        assert probe.require(min_classes=min_classes) is probe
    else:
        with pytest.raises(ProbeSetError, match=f"has {n} usable image"):
            probe.require(min_classes=min_classes)


def test_require_names_the_classes_a_one_class_set_lacks() -> None:
    photos = [im for im in builtin_probe_set(seed=0, max_images=60).images if im.label == "photo"]
    one_class = ProbeSet("photos", photos)
    assert len(one_class) == MIN_IMAGES
    with pytest.raises(ProbeSetError, match=r"in 1 class\(es\) \{'photo': 10\}; style "
                       r"recognition needs at least 10 images in at least 2 classes"):
        one_class.require(min_classes=2, purpose="style recognition")


def test_one_semantic_class_is_enough_for_the_jpeg_audit() -> None:
    # Its classes are the six JPEG settings, not the images' labels.
    photos = [im for im in builtin_probe_set(seed=0, max_images=60).images if im.label == "photo"]
    ms = jpeg_quality.measure(Extractor(build_encoder("pixels")), ProbeSet("photos", photos))
    leakage = ms["leakage"]
    assert leakage.details["n_classes"] == 6 and leakage.chance == pytest.approx(1 / 6)
    assert leakage.n == 6 * len(photos)


def test_jpeg_audit_refuses_a_set_too_small_to_judge() -> None:
    probe = builtin_probe_set(seed=0, max_images=3)
    try:
        jpeg_quality.measure(Extractor(build_encoder("pixels")), probe)
    except ProbeSetError as exc:
        assert "needs at least" in str(exc)
    else:
        raise AssertionError("a 3-image probe set was measured")


# --------------------------------------------------------------------------
# End to end: the stock JPEG audit on the corpus


@pytest.mark.skipif(not POSIX, reason="the corpus needs POSIX file names and links")
def test_stock_audit_runs_on_the_corpus_and_reports_the_skips(
    pytester: pytest.Pytester, corpus: Path, tmp_path: Path
) -> None:
    pytester.makepyfile(**{"audits/test_jpeg_quality": STOCK.read_text()})
    pytester.makefile(".toml", pyproject=textwrap.dedent("""
        [tool.auditkit]
        encoders = ["pixels"]
        [tool.auditkit.thresholds.jpeg_quality]
        max_leakage = [0.1, 0.3]
    """))
    run = pytester.runpytest_inprocess(
        "audits", "-p", "no:cacheprovider", "--encoder=pixels", f"--audit-data={corpus}",
        f"--audit-cache-dir={tmp_path / 'cache'}", "--audit-report-dir=out",
    )
    outcomes = run.parseoutcomes()
    assert outcomes.get("failed", 0) + outcomes.get("passed", 0) \
        + outcomes.get("skipped", 0) == 2, outcomes
    doc = json.loads((pytester.path / "out" / "pixels" / "results.json").read_text())
    assert {c["verdict"] for c in doc["audits"]} <= {"pass", "fail", "inconclusive"}
    data = doc["provenance"]["data"]
    present = _present(corpus)
    assert data["n_images"] == sum(1 for c in present if c.skipped is None)
    assert data["skipped"] == load_probe_set(corpus).skipped_counts()
    assert {s["path"] for s in data["skipped_files"]} == {c.id for c in present if c.skipped}
    assert doc["provenance"]["extraction"]["failed"] == []
    card = (pytester.path / "out" / "pixels" / "card.html").read_text(encoding="utf-8")
    for case in present:
        if case.skipped:
            assert case.id.replace("'", "&#39;") in card, case.id
    for kind in ("unreadable", "too large", "too small", "duplicate"):
        assert kind in card
