"""Compare two results: side by side, or one over the other with a divider to drag ("before / after").

`CompareDialog(first, second)` takes two (QImage, title) pairs. In the slider view both images fill the
same rectangle (the first's aspect ratio; the second is scaled into it, so a hires result lines up with
its base image); left of the divider is the first, right of it the second. Press anywhere and drag to
move the divider; the arrow keys nudge it. The dialog is not modal: the window stays usable.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QKeyEvent, QMouseEvent, QPainter, QPaintEvent, QPen, QPixmap
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QTabWidget, QVBoxLayout, QWidget

Titled = tuple[QImage, str]
KEY_STEP = 0.02  # of the width, per arrow key press


def fitted_rect(image_size: QSize, area: QRectF) -> QRectF:
    """The largest rectangle of the image's aspect ratio centred in `area`."""
    if image_size.isEmpty() or area.isEmpty():
        return QRectF()
    scale = min(area.width() / image_size.width(), area.height() / image_size.height())
    width, height = image_size.width() * scale, image_size.height() * scale
    return QRectF(area.center().x() - width / 2, area.center().y() - height / 2, width, height)


class SliderCompare(QWidget):
    """Both images in one place; the first left of the divider, the second right of it."""

    dividerMoved = Signal(float)  # the divider's place, 0 (left edge) .. 1 (right edge) of the image

    def __init__(self, first: QImage, second: QImage, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.first, self.second = first, second
        self._divider = 0.5
        self.setMinimumSize(160, 120)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setCursor(Qt.CursorShape.SplitHCursor)
        self.setToolTip("Drag to move the divider: left is the first image, right the second")

    @property
    def divider(self) -> float:
        return self._divider

    def set_divider(self, fraction: float) -> None:
        fraction = min(1.0, max(0.0, fraction))
        if fraction != self._divider:
            self._divider = fraction
            self.dividerMoved.emit(fraction)
            self.update()

    def image_rect(self) -> QRectF:
        return fitted_rect(self.first.size(), QRectF(self.rect()))

    def divider_x(self) -> float:
        rect = self.image_rect()
        return rect.left() + self._divider * rect.width()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().window())
        rect = self.image_rect()
        if rect.isEmpty():
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        x = self.divider_x()
        left = QRectF(rect.left(), rect.top(), x - rect.left(), rect.height())
        right = QRectF(x, rect.top(), rect.right() - x, rect.height())
        for image, clip in ((self.first, left), (self.second, right)):
            painter.save()
            painter.setClipRect(clip)
            painter.drawImage(rect, image)
            painter.restore()
        painter.setPen(QPen(QColor(255, 255, 255), 1))
        painter.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))
        painter.end()

    def _follow(self, event: QMouseEvent) -> None:
        rect = self.image_rect()
        if rect.width() > 0:
            self.set_divider((event.position().x() - rect.left()) / rect.width())

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._follow(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._follow(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        steps = {Qt.Key.Key_Left: -KEY_STEP, Qt.Key.Key_Right: KEY_STEP}
        if event.key() in steps:
            self.set_divider(self._divider + steps[event.key()])
        else:
            super().keyPressEvent(event)


class ScaledImage(QLabel):
    """An image that follows its label's size, keeping its aspect ratio."""

    def __init__(self, image: QImage) -> None:
        super().__init__()
        self.image = image
        self.setMinimumSize(80, 80)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)

    def resizeEvent(self, event) -> None:
        pixmap = QPixmap.fromImage(self.image).scaled(
            self.size(), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
        )
        self.setPixmap(pixmap)
        super().resizeEvent(event)


def _titled(widget: QWidget, title: str) -> QWidget:
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    caption = QLabel(title)
    caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
    layout.addWidget(widget, stretch=1)
    layout.addWidget(caption)
    return box


class CompareDialog(QDialog):
    def __init__(self, first: Titled, second: Titled, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Compare: {first[1]} ↔ {second[1]}")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.slider = SliderCompare(first[0], second[0])
        side = QWidget()
        side_layout = QHBoxLayout(side)
        side_layout.addWidget(_titled(ScaledImage(first[0]), first[1]))
        side_layout.addWidget(_titled(ScaledImage(second[0]), second[1]))
        self.tabs = QTabWidget()
        self.tabs.addTab(_titled(self.slider, f"left: {first[1]}   ·   right: {second[1]}"), "Slider")
        self.tabs.addTab(side, "Side by side")
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        self.resize(900, 600)
