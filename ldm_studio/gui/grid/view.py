"""The grid as it fills in: one thumbnail per cell in its place, the axis labels around them.

Laid out as the saved grid image is: X values along the top, Y values down the left, one block per Z
value side by side under its header. A cell shows grey while it waits, its previews while it runs and
its image when done; double-clicking a finished cell asks to open it (`cellActivated`).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QMouseEvent, QPixmap
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QWidget

from ldm_studio.engine.grids.plan import GridPlan

THUMBNAIL = 160  # px, the longer side of a cell's thumbnail


class CellView(QLabel):
    doubleClicked = Signal(int)

    def __init__(self, index: int, width: int, height: int, tooltip: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.index = index
        self.state = "waiting"  # running / done / cancelled
        scale = THUMBNAIL / max(width, height, 1)
        self.setFixedSize(max(8, round(width * scale)), max(8, round(height * scale)))
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setToolTip(tooltip)
        self.setFrameShape(QFrame.Shape.Box)
        self._style()

    def _style(self) -> None:
        border = "#3a7bd5" if self.state == "running" else "#888"
        background = "#777" if self.state in ("waiting", "cancelled") else "#222"
        self.setStyleSheet(f"QLabel {{ background: {background}; border: 2px solid {border}; }}")

    def set_state(self, state: str) -> None:
        self.state = state
        self._style()

    def show_image(self, image: QImage) -> None:
        pixmap = QPixmap.fromImage(image).scaled(
            self.size(), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
        )
        self.setPixmap(pixmap)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.doubleClicked.emit(self.index)
        super().mouseDoubleClickEvent(event)


class GridView(QWidget):
    cellActivated = Signal(int)  # a cell's index, double-clicked

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QGridLayout(self)
        self._layout.setSpacing(2)
        self._layout.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.cells: list[CellView] = []

    def set_plan(self, plan: GridPlan) -> None:
        while (item := self._layout.takeAt(0)) is not None:
            if item.widget() is not None:
                item.widget().deleteLater()
        self.cells = []
        nx, ny, nz = plan.shape
        x_axis, y_axis, z_axis = plan.axes
        for z in range(nz):
            column = z * (nx + 2)  # a Y-label column, the cells, a spacer column
            if z_axis is not None:
                self._layout.addWidget(self._header(z_axis.header(z), bold=True), 0, column, 1, nx + 1)
            for x in range(nx):
                if x_axis is not None:
                    self._layout.addWidget(self._header(x_axis.header(x)), 1, column + 1 + x)
            for y in range(ny):
                if y_axis is not None:
                    self._layout.addWidget(self._header(y_axis.header(y)), 2 + y, column)
            if z + 1 < nz:
                self._layout.setColumnMinimumWidth(column + nx + 1, 16)
        for cell in plan.cells:
            request = cell.request
            width, height = request.width, request.height
            if request.init_image is not None and request.mode != "txt2img":
                height, width = request.init_image.shape[:2]
            view = CellView(
                cell.index, width, height, "\n".join(label for label in cell.labels if label), self
            )
            view.doubleClicked.connect(self._on_double_click)
            self._layout.addWidget(view, 2 + cell.y, cell.z * (nx + 2) + 1 + cell.x)
            self.cells.append(view)

    def _header(self, text: str, bold: bool = False) -> QLabel:
        label = QLabel(text)
        label.setWordWrap(True)
        label.setMaximumWidth(THUMBNAIL)
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        if bold:
            label.setStyleSheet("font-weight: bold")
        return label

    def _on_double_click(self, index: int) -> None:
        if self.cells[index].state == "done":
            self.cellActivated.emit(index)
