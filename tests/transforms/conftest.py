import pytest
from PIL import Image


@pytest.fixture
def saved_bytes(monkeypatch):
    """Every file Pillow encodes to an in-memory buffer, as bytes, in order."""
    written = []
    original = Image.Image.save

    def spy(self, fp, *args, **kwargs):
        original(self, fp, *args, **kwargs)
        written.append(fp.getvalue())

    monkeypatch.setattr(Image.Image, "save", spy)
    return written
