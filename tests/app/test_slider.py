"""The threshold slider shows the score it filters with."""
from lookalike.app.slider import ThresholdSlider


def test_a_threshold_of_99_9_is_shown_and_used_as_99_9(qtbot):
    s = ThresholdSlider()
    qtbot.addWidget(s)
    s.set_value(99.9)
    assert s.value() == 99.9 and s.label.text() == "score ≥ 99.9"
    s.set_value(81.6)                 # a model's calibrated threshold keeps its decimal
    assert s.value() == 81.6 and s.label.text() == "score ≥ 81.6"
