"""The settings dialog: face-crop mode, model bundle, library location, theme, cache."""
from __future__ import annotations

from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLabel, QLineEdit, QPushButton, QWidget)

from .settings import THEMES, Settings


def _path_row(parent, edit: QLineEdit, title: str) -> QWidget:
    w = QWidget(parent)
    lay = QHBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(edit, 1)
    b = QPushButton("Choose…", w)

    def pick():
        d = QFileDialog.getExistingDirectory(parent, title, edit.text())
        if d:
            edit.setText(d)
    b.clicked.connect(pick)
    lay.addWidget(b)
    return w


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.settings = settings
        self.face = QCheckBox("Compare faces: embed the largest face of each photo", self)
        self.face.setChecked(bool(settings.face_mode))
        self.model = QLineEdit(settings.model_dir or "", self)
        self.model.setPlaceholderText("the library's model, else the built-in one")
        self.library = QLineEdit(settings.library_dir or "", self)
        self.library.setPlaceholderText("the default library folder")
        self.cache = QLineEdit(settings.thumb_cache_dir or "", self)
        self.cache.setPlaceholderText("the user cache folder")
        self.theme = QComboBox(self)
        self.theme.addItems(list(THEMES))
        self.theme.setCurrentText(settings.theme)
        form = QFormLayout(self)
        form.addRow("", self.face)
        form.addRow("Model bundle", _path_row(self, self.model, "Model bundle folder"))
        form.addRow("Library folder", _path_row(self, self.library, "Library folder"))
        form.addRow("Thumbnail cache", _path_row(self, self.cache, "Thumbnail cache folder"))
        form.addRow("Theme", self.theme)
        note = QLabel("Changing the model or face mode re-reads photos that have no vector for it yet "
                      "(switching back costs nothing).", self)
        note.setWordWrap(True)
        form.addRow(note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def apply(self) -> Settings:
        s = self.settings
        s.face_mode = self.face.isChecked()
        s.model_dir = self.model.text().strip() or None
        s.library_dir = self.library.text().strip() or None
        s.thumb_cache_dir = self.cache.text().strip() or None
        s.theme = self.theme.currentText()
        s.save()
        return s
