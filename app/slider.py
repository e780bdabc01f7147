"""The threshold slider: match score 0-100 in steps of 0.1 (the precision of the model's
thresholds and of `--threshold`), with the model's marks."""
from __future__ import annotations

import math

from PySide6.QtCore import QRect, Qt, Signal
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QSlider, QStyle, QStyleOptionSlider, QToolButton,
                               QWidget)

STEPS = 10         # slider units per score point
BELOW_SIMILAR = 10.0   # the slider reaches this far below the model's similar mark


def lowest_threshold(duplicate: float, similar: float) -> float:
    """The slider's lower end: a little below the similar mark, where the geometric check still
    judges pairs (below it the scale means little: unrelated photos join), never below the
    lowest score the library stores edges for."""
    from lookalike.core.scanner import EDGE_FLOOR
    return float(max(EDGE_FLOOR, math.floor(min(duplicate, similar) - BELOW_SIMILAR)))


class MarkedSlider(QSlider):
    """A horizontal slider that draws labelled marks ("duplicate", "similar") under the groove."""

    def __init__(self, parent=None):
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.marks: dict[str, tuple[float, QColor]] = {}
        self.setMinimumHeight(34)

    def set_marks(self, marks):
        self.marks = dict(marks)
        self.update()

    def paintEvent(self, ev):
        super().paintEvent(ev)
        if not self.marks:
            return
        opt = QStyleOptionSlider()
        self.initStyleOption(opt)
        groove = self.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt,
                                             QStyle.SubControl.SC_SliderGroove, self)
        handle = self.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt,
                                             QStyle.SubControl.SC_SliderHandle, self)
        span = groove.width() - handle.width()
        p = QPainter(self)
        f = p.font()
        f.setPointSizeF(max(6.5, f.pointSizeF() * 0.8))
        p.setFont(f)
        fm = p.fontMetrics()
        ticks = []                      # (x of the tick, label width, name, colour), left to right
        for name, (value, color) in self.marks.items():
            pos = QStyle.sliderPositionFromValue(self.minimum(), self.maximum(), int(round(value * STEPS)), span)
            ticks.append((groove.left() + handle.width() // 2 + pos, fm.horizontalAdvance(name) + 4, name, color))
        ticks.sort()
        # labels are centred on their ticks; where two would overlap, the lower one ends at its
        # tick and the higher one starts at its own
        clash = [a[0] + a[1] // 2 > b[0] - b[1] // 2 for a, b in zip(ticks, ticks[1:])]
        for i, (x, w, name, color) in enumerate(ticks):
            left = x - w // 2
            if i < len(clash) and clash[i]:
                left = x - w + 2
            elif i > 0 and clash[i - 1]:
                left = x - 2
            left = max(0, min(left, self.width() - w))       # the end marks stay inside
            p.setPen(color)
            p.drawLine(x, groove.bottom() + 1, x, groove.bottom() + 6)
            p.drawText(QRect(left, groove.bottom() + 5, w, fm.height()), Qt.AlignmentFlag.AlignHCenter, name)
        p.end()


class ThresholdSlider(QWidget):
    """Emits `changed(score)` as it moves; `value()` is the score (0-100)."""
    changed = Signal(float)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.slider = MarkedSlider(self)
        self.slider.setRange(0, 100 * STEPS)
        self.slider.setPageStep(2 * STEPS)
        self.slider.setSingleStep(STEPS // 2)
        self.slider.setAccessibleName("Match threshold")
        self.slider.setToolTip("Match score a photo needs to join a group. Moving it regroups at once, "
                               "without rescanning. It starts a little below the model's similar "
                               "mark: lower scores group unrelated photos.")
        self.label = QLabel(self)
        self.label.setMinimumWidth(110)
        self.reset_button = QToolButton(self)
        self.reset_button.setText("Default")
        self.reset_button.setToolTip("Back to the model's duplicate threshold")
        self._default = 90.0
        self.lowest = 0.0
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(QLabel("Threshold", self))
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.label)
        lay.addWidget(self.reset_button)
        self.slider.valueChanged.connect(self._moved)
        self.reset_button.clicked.connect(lambda: self.set_value(self._default))
        self._moved(self.slider.value())

    def set_marks(self, duplicate: float, similar: float):
        """The model's marks, and the range they give the slider (see `lowest_threshold`)."""
        self._default = duplicate
        self.lowest = lowest_threshold(duplicate, similar)
        value = self.value()
        self.slider.blockSignals(True)
        self.slider.setRange(int(round(self.lowest * STEPS)), 100 * STEPS)
        self.slider.blockSignals(False)
        marks = {f"{self.lowest:g}": (self.lowest, QColor(128, 128, 128)),
                 "similar": (similar, QColor(70, 140, 220)),
                 "duplicate": (duplicate, QColor(220, 90, 70))}
        # a mark below the lower end (a similar threshold under the stored edges) is not drawn
        self.slider.set_marks({k: v for k, v in marks.items() if v[0] >= self.lowest})
        self.set_value(value)

    def value(self) -> float:
        return self.slider.value() / STEPS

    def set_value(self, score: float):
        self.slider.setValue(int(round(max(self.lowest, min(100.0, score)) * STEPS)))

    def _moved(self, v):
        self.label.setText(f"score ≥ {v / STEPS:.1f}")
        self.changed.emit(v / STEPS)
