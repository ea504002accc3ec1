"""Each source registers its own grammar; specs dispatch on the record."""

import subprocess
import sys

import pytest

from auditkit.encoders import build_encoder, list_forms, parse_spec, register_source
from auditkit.encoders import sources as sources_mod
from auditkit.encoders.pixels import PixelsEncoder
from auditkit.errors import SpecError


@pytest.fixture
def own_table(monkeypatch):
    """A copy of the source table, so a test's registrations end with it."""
    monkeypatch.setattr(sources_mod, "_SOURCES", dict(sources_mod._SOURCES))


def test_builtin_forms_in_the_order_they_were_listed():
    assert list_forms() == [
        "pixels",
        "open_clip:ARCH/PRETRAINED",
        "timm:NAME",
        "package:NAME",
        "torchscript:PATH",
        "python:MODULE:FACTORY",
        "hf:REPO_OR_FOLDER[#pool=POOL]",
        "export:PATH.pt2",
        "onnx:PATH.onnx",
    ]


@pytest.mark.parametrize(
    ("name", "weights"),
    [("pixels", False), ("open_clip", True), ("timm", True), ("torchscript", False),
     ("python", False)],
)
def test_each_builtin_source_says_whether_weights_apply(name, weights):
    source = sources_mod.get_source(name)
    assert source is not None and source.name == name and source.weights is weights


def test_registered_source_brings_its_grammar(own_table):
    def parse(rest):
        model, _, size = rest.partition("+")
        return (model, size) if size.isdigit() else None

    @register_source("toy", form="toy:MODEL+SIZE", parse=parse)
    def build_toy(spec, options):
        return PixelsEncoder()

    spec = parse_spec("toy:net+7")
    assert (spec.source, spec.name, spec.pretrained) == ("toy", "net", "7")
    assert isinstance(build_encoder("toy:net+7"), PixelsEncoder)
    assert list_forms()[-1] == "toy:MODEL+SIZE"
    with pytest.raises(SpecError, match=r"'toy:net\+x' is malformed: expected toy:MODEL\+SIZE"):
        parse_spec("toy:net+x")
    with pytest.raises(SpecError, match="Did you mean: toy"):
        parse_spec("toi:net+7")


def test_default_grammar_takes_the_whole_rest_as_the_name(own_table):
    @register_source("mine")
    def build_mine(spec, options):
        return PixelsEncoder()

    assert parse_spec("mine:a/b:c").name == "a/b:c"
    assert "mine:NAME" in list_forms()
    # random: and @PATH wrap any source.
    assert parse_spec("random:mine:a").canonical == "random:mine:a"
    assert parse_spec("mine:a@w.pt").weights_path == "w.pt"


def test_a_later_registration_replaces_a_builtin(own_table):
    @register_source("timm", form="timm:NAME")
    def build_fake_timm(spec, options):
        return PixelsEncoder()

    assert isinstance(build_encoder("timm:anything"), PixelsEncoder)


def test_pixels_takes_nothing_after_its_name():
    with pytest.raises(SpecError, match="'pixels:jpeg' is malformed: expected pixels"):
        parse_spec("pixels:jpeg")


def test_parsing_specs_imports_no_model_library():
    code = (
        "import sys\n"
        "from auditkit.encoders import parse_spec, list_forms\n"
        "parse_spec('clip'); parse_spec('random:timm:resnet18'); list_forms()\n"
        "heavy = ('torch', 'timm', 'open_clip', 'scipy.fft')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
