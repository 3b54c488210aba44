"""The Outpaint tool bars and their place in the main window (above the canvas).

Fields per side and Extend; presets +64 / +128 / +256 px on the chosen sides; "to size" W x H; the
fill of the new area (edge, blur, noise) and the overlap back over the old image (32 px). The drag
handles on the canvas edges (outpaint_handles.py) do the same with the mouse. Each way ends in
outpaint.extend_working_image, then the window is in Inpaint mode with the new area masked, so
Generate inpaints it. A bad size says why on the notice bar and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QComboBox, QLabel, QSpinBox, QToolBar, QVBoxLayout, QWidget

from ldm_studio.engine.errors import InputError
from ldm_studio.engine.validation import MAX_SIDE
from ldm_studio.gui.canvas import outpaint
from ldm_studio.gui.canvas.outpaint_handles import OutpaintHandles

PRESETS = (64, 128, 256)
FILLS = ("edge", "blur", "noise")


def _spin(low: int, high: int, value: int, tip: str, step: int = 8, suffix: str = " px") -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setSingleStep(step)
    spin.setValue(value)
    spin.setSuffix(suffix)
    spin.setToolTip(tip)
    return spin


class OutpaintToolbar(QWidget):
    """Two tool bar rows above the canvas (one row would not fit beside the docks).

    `extend(sides, fill, overlap)` does the work (the window's outpaint); `report(line)` shows a refusal.
    """

    def __init__(
        self,
        extend: Callable[[dict[str, int], str, int], None],
        report: Callable[[str], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("outpaint_toolbar")
        self._extend, self._report = extend, report
        self.sides_row, self.options_row = QToolBar("Outpaint"), QToolBar("Outpaint size")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        for row in (self.sides_row, self.options_row):
            row.setMovable(False)
            layout.addWidget(row)
        self._build_sides_row(self.sides_row)
        self._build_options_row(self.options_row)
        self._image_size: tuple[int, int] | None = None

    def _build_sides_row(self, row: QToolBar) -> None:
        row.addWidget(QLabel(" Outpaint "))
        self.side_fields = {
            side: _spin(0, MAX_SIDE, 0, f"Pixels to add on the {side}") for side in outpaint.SIDES
        }
        for side, spin in self.side_fields.items():
            row.addWidget(QLabel(f" {side.capitalize()} "))
            row.addWidget(spin)
        self.extend_action = row.addAction("Extend")
        self.extend_action.setToolTip("Add the pixels in the fields and mask the new area for Inpaint")
        self.extend_action.triggered.connect(self.extend_by_fields)
        row.addSeparator()
        self.fill_choice = QComboBox()
        self.fill_choice.addItems(list(FILLS))
        self.fill_choice.setToolTip(
            "What the new area starts as: edge = the border pixels stretched out, blur = blurred "
            "surrounding colours, noise = coloured noise"
        )
        row.addWidget(QLabel(" Fill "))
        row.addWidget(self.fill_choice)
        self.overlap_field = _spin(
            0, 256, outpaint.DEFAULT_OVERLAP, "How far the mask reaches back over the old image (feathered)"
        )
        row.addWidget(QLabel(" Overlap "))
        row.addWidget(self.overlap_field)

    def _build_options_row(self, row: QToolBar) -> None:
        row.addWidget(QLabel(" Grow "))
        self.side_choice = QComboBox()
        self.side_choice.addItems(list(outpaint.SIDE_CHOICES))
        self.side_choice.setToolTip("Where the presets and To size add pixels")
        row.addWidget(self.side_choice)
        self.preset_actions = {}
        for pixels in PRESETS:
            action = row.addAction(f"+{pixels}")
            action.setToolTip(f"Add {pixels} px on the chosen sides")
            action.triggered.connect(lambda _=False, px=pixels: self.extend_by_preset(px))
            self.preset_actions[pixels] = action
        row.addSeparator()
        self.width_field = _spin(8, MAX_SIDE, 512, "Width to grow the image to")
        self.height_field = _spin(8, MAX_SIDE, 512, "Height to grow the image to")
        row.addWidget(QLabel(" to "))
        row.addWidget(self.width_field)
        row.addWidget(QLabel("×"))
        row.addWidget(self.height_field)
        self.to_size_action = row.addAction("To size")
        self.to_size_action.setToolTip("Grow the image to this size on the chosen sides")
        self.to_size_action.triggered.connect(self.extend_to_size)

    def button_for(self, action) -> QWidget | None:
        """The tool button showing `action` (for tests and keyboard focus)."""
        return self.sides_row.widgetForAction(action) or self.options_row.widgetForAction(action)

    def follow_image(self, size: tuple[int, int] | None) -> None:
        """The canvas image changed: To size starts from its size."""
        self._image_size = size
        if size is not None:
            self.width_field.setValue(size[0])
            self.height_field.setValue(size[1])

    def _run(self, sides: dict[str, int]) -> None:
        self._extend(sides, self.fill_choice.currentText(), self.overlap_field.value())

    def extend_by_fields(self) -> None:
        self._run({side: spin.value() for side, spin in self.side_fields.items()})

    def extend_by_preset(self, pixels: int) -> None:
        self._run(dict.fromkeys(outpaint.side_choice(self.side_choice.currentText()), pixels))

    def extend_to_size(self) -> None:
        if self._image_size is None:
            self._run({})  # the window says an image is needed
            return
        target = self.width_field.value(), self.height_field.value()
        try:
            sides = outpaint.to_size_sides(*self._image_size, *target, self.side_choice.currentText())
        except InputError as error:
            self._report(str(error))
            return
        self._run(sides)


def install_outpaint(window) -> OutpaintToolbar:
    """Add the Outpaint tool bar and the canvas edge handles to a MainWindow."""

    def extend(sides: dict[str, int], fill: str, overlap: int) -> None:
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)  # a 4096² canvas takes about a second
        try:
            width, height = outpaint.extend_working_image(
                window.canvas, sides, fill=fill, overlap=overlap, sketch=getattr(window, "sketch", None)
            )
        except InputError as error:
            window.notice.show_error(str(error))
            return
        finally:
            QApplication.restoreOverrideCursor()
        window.document.mode = "inpaint"
        window.status.showMessage(
            f"Extended to {width}x{height}: Generate inpaints the new area (Inpaint mode)", 8000
        )

    bar = OutpaintToolbar(extend, window.notice.show_error, window)
    window.outpaint_toolbar = bar
    layout = window.centralWidget().layout()
    layout.insertWidget(layout.indexOf(window.canvas), bar)  # right above the canvas and its handles

    def drag_extend(side: str, pixels: int) -> None:
        extend({side: pixels}, bar.fill_choice.currentText(), bar.overlap_field.value())

    window.outpaint_handles = OutpaintHandles(window.canvas, drag_extend, outpaint.DEFAULT_MULTIPLE)

    def follow() -> None:
        image = window.canvas.image()
        bar.follow_image(None if image is None else (image.shape[1], image.shape[0]))

    window.canvas.imageChanged.connect(follow)
    follow()
    return bar
