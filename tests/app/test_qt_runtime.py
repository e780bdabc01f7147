"""The Qt binding itself: PySide6 6.12.0 drops a reference to `True` on every signal delivered
to a Python slot, which aborts Python < 3.12 (where True is not immortal) after enough signals.
This test names the problem instead of a random crash at exit."""
from __future__ import annotations

import sys

import pytest

pytest.importorskip("PySide6")


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="bool is immortal from Python 3.12")
def test_signal_delivery_keeps_reference_counts(qapp):
    import PySide6
    from PySide6.QtCore import QObject, Signal

    class Emitter(QObject):
        fired = Signal(str)

    e = Emitter()
    e.fired.connect(lambda _s: None)
    before = sys.getrefcount(True)
    for _ in range(5):
        e.fired.emit("x")
    assert sys.getrefcount(True) - before >= 0, (
        f"PySide6 {PySide6.__version__} leaks references to True on signal delivery; "
        f"install another version (6.12.0 is known bad): pip install 'PySide6-Essentials!=6.12.0'")
