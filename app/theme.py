"""Light and dark palettes on the Fusion style (looks the same on every platform)."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette


def system_is_dark() -> bool:
    try:
        return QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark
    except AttributeError:          # Qt < 6.5
        return QGuiApplication.palette().window().color().lightness() < 128


def dark_palette() -> QPalette:
    p = QPalette()
    base, window, text = QColor(30, 31, 34), QColor(43, 45, 48), QColor(222, 222, 226)
    for group in (QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive):
        p.setColor(group, QPalette.ColorRole.Window, window)
        p.setColor(group, QPalette.ColorRole.WindowText, text)
        p.setColor(group, QPalette.ColorRole.Base, base)
        p.setColor(group, QPalette.ColorRole.AlternateBase, QColor(38, 39, 43))
        p.setColor(group, QPalette.ColorRole.ToolTipBase, window)
        p.setColor(group, QPalette.ColorRole.ToolTipText, text)
        p.setColor(group, QPalette.ColorRole.Text, text)
        p.setColor(group, QPalette.ColorRole.Button, window)
        p.setColor(group, QPalette.ColorRole.ButtonText, text)
        p.setColor(group, QPalette.ColorRole.BrightText, QColor(255, 90, 90))
        p.setColor(group, QPalette.ColorRole.Link, QColor(90, 160, 240))
        p.setColor(group, QPalette.ColorRole.Highlight, QColor(53, 110, 190))
        p.setColor(group, QPalette.ColorRole.HighlightedText, QColor(255, 255, 255))
        p.setColor(group, QPalette.ColorRole.PlaceholderText, QColor(140, 140, 146))
        p.setColor(group, QPalette.ColorRole.Mid, QColor(70, 72, 76))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(120, 120, 125))
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Base, window)
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Window, window)
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Button, window)
    return p


def apply_theme(app, theme: str = "system") -> bool:
    """Fusion with the light or dark colour scheme; returns True when dark.

    From Qt 6.8 the scheme is set through the style hints, so Fusion draws its own tuned dark
    variant (check boxes, frames, focus); older Qt gets our dark palette.
    """
    app.setStyle("Fusion")
    dark = theme == "dark" or (theme == "system" and system_is_dark())
    hints = app.styleHints()
    if hasattr(hints, "setColorScheme"):
        hints.setColorScheme(Qt.ColorScheme.Dark if dark else
                             Qt.ColorScheme.Light if theme == "light" else Qt.ColorScheme.Unknown)
        app.setPalette(app.style().standardPalette())
        if dark and app.palette().window().color().lightness() > 128:    # the platform ignored the hint
            app.setPalette(dark_palette())
    else:
        app.setPalette(dark_palette() if dark else app.style().standardPalette())
    return dark


def compact(button):
    """Let a text button shrink to its text (styles give push buttons 80 px at the least), so a
    row of them fits a 1024-pixel window; returns the button."""
    fm = button.fontMetrics()
    button.setMinimumWidth(fm.horizontalAdvance(button.text()) + fm.height())
    return button
