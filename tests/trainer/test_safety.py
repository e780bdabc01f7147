"""The trainer reads TOML on Python 3.10 (tomli) and never runs code from a checkpoint file."""
import importlib
import sys

import pytest


def test_config_reads_toml_through_tomli_where_tomllib_is_missing(monkeypatch):
    import tomllib

    import lookalike.trainer.config as config
    monkeypatch.setitem(sys.modules, "tomllib", None)         # as on Python 3.10
    monkeypatch.setitem(sys.modules, "tomli", tomllib)        # the package the [train] extra installs there
    try:
        again = importlib.reload(config)
        assert again.tomllib is tomllib and again.load_config()["train"]
    finally:
        monkeypatch.undo()
        importlib.reload(config)


class _Payload:
    ran = []

    def __reduce__(self):
        return (_Payload.ran.append, ("code ran",))


def test_a_checkpoint_that_holds_code_is_refused_without_running_it(tmp_path):
    torch = pytest.importorskip("torch")
    from lookalike.trainer.train import CKPT_FORMAT, load_init
    bad = tmp_path / "checkpoint.pt"
    torch.save({"format": CKPT_FORMAT, "model": {}, "state_dict": {}, "extra": _Payload()}, bad)
    _Payload.ran.clear()
    with pytest.raises(ValueError, match="not a Lookalike trainer checkpoint"):
        load_init({}, tmp_path)
    assert _Payload.ran == []
