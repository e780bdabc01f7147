"""The threshold slider shows the score it filters with."""
from lookalike.app.slider import ThresholdSlider


def test_a_threshold_of_99_9_is_shown_and_used_as_99_9(qtbot):
    s = ThresholdSlider()
    qtbot.addWidget(s)
    s.set_value(99.9)
    assert s.value() == 99.9 and s.label.text() == "score ≥ 99.9"
    s.set_value(81.6)                 # a model's calibrated threshold keeps its decimal
    assert s.value() == 81.6 and s.label.text() == "score ≥ 81.6"


def test_the_slider_starts_a_little_below_the_similar_mark_and_labels_its_end(qtbot):
    s = ThresholdSlider()
    qtbot.addWidget(s)
    s.set_value(90)
    s.set_marks(81.56, 72.95)                  # the default model's thresholds
    assert s.lowest == 62.0 and s.slider.minimum() == 620 and s.value() == 90.0
    assert "62" in s.slider.marks
    s.set_value(10)                            # a stored setting below the range is clamped
    assert s.value() == 62.0
    s.set_marks(97, 90)
    assert s.lowest == 80.0
    s.set_marks(55, 50)                        # never below the lowest stored edge score
    assert s.lowest == 50.0
    s.set_marks(84.81, 48.6)                   # a similar mark below the stored edges is not drawn
    assert s.lowest == 50.0 and set(s.slider.marks) == {"50", "duplicate"}
