"""Variant keys follow the code of the transformation, not only its declared version."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path

from auditkit.transforms.base import Variant, code_digest, identity

SOURCE = '''
from PIL import ImageOps

def tint(image, params, seed):
    return {body}
'''


def _load(path: Path, body: str):
    """Write the module and import it afresh, as a rerun imports an edited conftest.py."""
    path.write_text(textwrap.dedent(SOURCE.format(body=body)))
    spec = importlib.util.spec_from_file_location("user_transforms", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["user_transforms"] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules["user_transforms"]
    return module.tint


def test_variant_key_changes_with_the_transforms_code(tmp_path):
    # The third edit bumps no version. (It changes the length too: an edit
    # within the file system's timestamp resolution, in one process, is
    # invisible to linecache; across runs it is not.)
    bodies = ["ImageOps.posterize(image, 3)", "ImageOps.posterize(image, 3)",
              "ImageOps.posterize(image, bits=2)"]
    keys = [Variant("colour/tint", "colour", _load(tmp_path / "user_transforms.py", body)).key
            for body in bodies]
    assert keys[0] == keys[1] and keys[0] != keys[2]


def test_post_step_code_enters_the_key(tmp_path):
    post = _load(tmp_path / "user_transforms.py", "image")
    plain = Variant("colour/x", "colour", identity)
    assert plain.key != Variant("colour/x", "colour", identity, post=post).key


def test_a_function_without_source_falls_back_to_its_name():
    assert code_digest(len) == code_digest(len) and code_digest(len) != code_digest(abs)
