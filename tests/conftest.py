import pytest

pytest_plugins = ["pytester"]


@pytest.fixture(params=[
    pytest.param((OSError(28, "No space left on device"), None), id="disk-full"),
    pytest.param((KeyboardInterrupt(), KeyboardInterrupt), id="interrupted"),
])
def failing_write(request, monkeypatch, caplog):
    """``attempt(os_module, put)``: run ``put`` while ``os_module.replace`` fails as a full
    disk (a warning, not an error) or an interrupt (raised); returns what ``put`` returned."""
    failure, raised = request.param

    def attempt(os_module, put):
        def fail(src, dst):
            raise failure

        monkeypatch.setattr(os_module, "replace", fail)
        result = None
        if raised is None:
            result = put()
            assert "cannot write" in caplog.text
        else:
            with pytest.raises(raised):
                put()
        monkeypatch.undo()
        return result

    return attempt
