"""Painting thumbnails inside item views: a strip per group, one picture per member."""
from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QStyle, QStyledItemDelegate

from .models import MembersRole

STRIP_MAX = 4


def draw_thumb(painter, rect: QRect, loader, path: str, marked: bool = False):
    pm = loader.get(path)
    painter.save()
    frame = rect
    if pm is None:
        painter.fillRect(rect, QColor(128, 128, 128, 40))
        if loader.is_broken(path):
            painter.setPen(QColor(200, 80, 80))
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, "unreadable")
    else:
        size = pm.size().scaled(rect.size(), Qt.AspectRatioMode.KeepAspectRatio)
        target = QRect(0, 0, size.width(), size.height())
        target.moveCenter(rect.center())
        painter.setRenderHint(painter.RenderHint.SmoothPixmapTransform, True)
        painter.drawPixmap(target, pm)
        frame = target
    if marked:
        painter.setPen(QPen(QColor(230, 70, 60), 3))
        painter.drawRect(frame.adjusted(1, 1, -2, -2))
    painter.restore()


class GroupStripDelegate(QStyledItemDelegate):
    def __init__(self, loader, marked: set[int], thumb: int = 64, parent=None):
        super().__init__(parent)
        self.loader, self.marked, self.thumb = loader, marked, thumb

    def paint(self, painter, option, index):
        if option.state & QStyle.StateFlag.State_Selected:
            painter.fillRect(option.rect, option.palette.highlight())
        members = index.data(MembersRole) or []
        r = option.rect.adjusted(4, 4, -4, -4)
        side = min(self.thumb, r.height())
        x = r.left()
        for m in members[:STRIP_MAX]:
            if x + side > r.right():
                break
            draw_thumb(painter, QRect(x, r.top(), side, side), self.loader, m.path, m.id in self.marked)
            x += side + 4
        extra = len(members) - STRIP_MAX
        if extra > 0 and x + 30 <= r.right():
            painter.setPen(option.palette.text().color())
            painter.drawText(QRect(x, r.top(), 40, side), Qt.AlignmentFlag.AlignVCenter, f"+{extra}")

    def sizeHint(self, option, index):
        return QSize(STRIP_MAX * (self.thumb + 4) + 40, self.thumb + 8)


class MemberThumbDelegate(QStyledItemDelegate):
    def __init__(self, loader, marked: set[int], thumb: int = 96, parent=None):
        super().__init__(parent)
        self.loader, self.marked, self.thumb = loader, marked, thumb

    def paint(self, painter, option, index):
        if option.state & QStyle.StateFlag.State_Selected:
            painter.fillRect(option.rect, option.palette.highlight())
        items = getattr(index.model(), "items", [])
        m = items[index.row()] if index.row() < len(items) else None   # the path never goes through a QString
        if m is not None:
            r = option.rect.adjusted(3, 3, -3, -3)
            side = min(r.width(), r.height())
            draw_thumb(painter, QRect(r.left(), r.top(), side, side), self.loader, m.path, m.id in self.marked)

    def sizeHint(self, option, index):
        return QSize(self.thumb + 6, self.thumb + 6)
