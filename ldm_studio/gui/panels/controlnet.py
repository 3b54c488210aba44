"""The ControlNet panel: one ControlNet from the `controlnet/` folder, its control image and how it steers.

The file list comes from the models folder's `controlnet/` (family and kind read from each header; a
file for another family than the chosen model's is listed with the reason). The control image is a
file or the current canvas; weight, guidance start / end, control mode and preprocessor go with it.
`units(canvas)` freezes the settings into the request's `ControlNetUnit`s (none while unchecked).
"Preview" shows the map the model will see at the generation size; it is made on a short-lived thread
(the canny / scribble / tile preprocessors run in the engine there, never in the GUI thread).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from ldm_studio.engine.errors import InputError
from ldm_studio.engine.requests import CONTROL_MODULES, ControlNetUnit
from ldm_studio.gui.qt_images import array_to_qimage

MODE_LABELS = {
    "balanced": "Balanced",
    "prompt": "My prompt is more important",
    "control": "ControlNet is more important",
}
SOURCES = ("Image file", "Current canvas", "Scribble layer")  # the last: what the Scribble tool drew
PREVIEW_SIDE = 160


def _spin(low: float, high: float, value: float, step: float) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(low, high)
    spin.setSingleStep(step)
    spin.setDecimals(2)
    spin.setValue(value)
    return spin


class ControlNetPanel(QWidget):
    errorOccurred = Signal(str)
    _previewed = Signal(int, object, str)  # generation, uint8 array or None, error text

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.folder: Path | None = None
        self.model_family: str | None = None
        self.image_path = ""
        # () -> (canvas image or None, width, height) of the next run; the window sets it.
        self.context: Callable[[], tuple[np.ndarray | None, int, int]] | None = None
        # () -> the canvas's scribble map (H, W, 3 white on black) or None when nothing is drawn.
        self.scribble: Callable[[], np.ndarray | None] | None = None
        self._generation = 0
        self.enabled = QCheckBox("Steer with a ControlNet")
        self.model = QComboBox()
        self.source = QComboBox()
        self.source.addItems(SOURCES)
        self.image_button = QPushButton("Choose image…")
        self.image_label = QLabel("no image")
        self.module = QComboBox()
        self.module.addItems(CONTROL_MODULES)
        self.weight = _spin(0.0, 2.0, 1.0, 0.05)
        self.start = _spin(0.0, 1.0, 0.0, 0.05)
        self.end = _spin(0.0, 1.0, 1.0, 0.05)
        self.mode = QComboBox()
        for mode, label in MODE_LABELS.items():
            self.mode.addItem(label, mode)
        self.preview_button = QPushButton("Preview")
        self.preview = QLabel()
        self.preview.setFixedSize(PREVIEW_SIDE, PREVIEW_SIDE)
        self.status = QLabel("")
        self.status.setWordWrap(True)

        form = QFormLayout()
        form.addRow("ControlNet", self.model)
        form.addRow("Image from", self.source)
        image_row = QHBoxLayout()
        image_row.addWidget(self.image_button)
        image_row.addWidget(self.image_label, stretch=1)
        form.addRow("", image_row)
        form.addRow("Preprocessor", self.module)
        form.addRow("Weight", self.weight)
        form.addRow("Guidance start", self.start)
        form.addRow("Guidance end", self.end)
        form.addRow("Control mode", self.mode)
        layout = QVBoxLayout(self)
        layout.addWidget(self.enabled)
        layout.addLayout(form)
        layout.addWidget(self.preview_button)
        layout.addWidget(self.preview)
        layout.addWidget(self.status)
        layout.addStretch(1)
        self.image_button.clicked.connect(self._choose_image)
        self.preview_button.clicked.connect(self._preview_clicked)
        self._previewed.connect(self._show_preview)

    # -- files -------------------------------------------------------------------------------------

    def set_folder(self, models_folder: Path) -> None:
        from ldm_studio.engine.adapters.controlnet_folder import controlnet_folder

        self.folder = controlnet_folder(models_folder)
        self.rescan()

    def set_model_family(self, family: str | None) -> None:
        self.model_family = family
        self.rescan()

    def rescan(self) -> None:
        from ldm_studio.engine.adapters.controlnet_folder import scan_controlnets

        chosen = self.model.currentData()
        self.model.clear()
        for entry in scan_controlnets(self.folder):
            why = entry.incompatibility(self.model_family)
            label = f"{entry.name} ({entry.kind})" if entry.kind else entry.name
            self.model.addItem(label + (" — not for this model" if why else ""), str(entry.path))
            self.model.setItemData(
                self.model.count() - 1, why or str(entry.path), Qt.ItemDataRole.ToolTipRole
            )
        index = self.model.findData(chosen)
        if index >= 0:
            self.model.setCurrentIndex(index)
        if not self.model.count():
            self.status.setText(f"No ControlNet files in {self.folder}" if self.folder else "")

    def set_image_path(self, path: str) -> None:
        self.image_path = path
        self.image_label.setText(Path(path).name if path else "no image")
        self.source.setCurrentIndex(0)

    @Slot()
    def _choose_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Control image", "", "Images (*.png *.jpg *.jpeg *.webp)")
        if path:
            self.set_image_path(path)

    # -- the request -------------------------------------------------------------------------------

    def units(self, canvas: np.ndarray | None) -> tuple[ControlNetUnit, ...]:
        """The request's ControlNets: () while unchecked or no file is chosen."""
        file = self.model.currentData()
        if not self.enabled.isChecked() or not file:
            return ()
        source = self.source.currentText()
        from_canvas = source != SOURCES[0]
        pixels = np.array(canvas, copy=True) if source == SOURCES[1] and canvas is not None else None
        if source == SOURCES[2]:
            pixels = self.scribble() if self.scribble is not None else None
            if pixels is None:
                raise InputError(
                    "The ControlNet reads the scribble layer, which is empty: draw on it with the Scribble "
                    "tool, or choose another image source"
                )
        return (
            ControlNetUnit(
                file=file,
                image="" if from_canvas else self.image_path,
                weight=self.weight.value(),
                start=self.start.value(),
                end=self.end.value(),
                mode=self.mode.currentData(),
                module=self.module.currentText(),
                pixels=pixels,
            ),
        )

    def apply_units(self, units: tuple[ControlNetUnit, ...]) -> str:
        """Take the first unit of a dropped PNG (its model is a file name): the settings, and the file when
        the controlnet folder has it. Returns what is missing ("" when nothing is)."""
        if not units:
            return ""
        unit = units[0]
        self.weight.setValue(unit.weight)
        self.start.setValue(unit.start)
        self.end.setValue(unit.end)
        self.mode.setCurrentIndex(max(0, self.mode.findData(unit.mode)))
        self.module.setCurrentText(unit.module)
        index = next(
            (
                i
                for i in range(self.model.count())
                if Path(self.model.itemData(i)).stem == Path(unit.file).stem
            ),
            -1,
        )
        self.enabled.setChecked(index >= 0)
        if index < 0:
            return f"ControlNet {Path(unit.file).stem} is not in {self.folder}: add it there to use it"
        self.model.setCurrentIndex(index)
        return ""

    # -- preview -----------------------------------------------------------------------------------

    @Slot()
    def _preview_clicked(self) -> None:
        if self.context is not None:
            try:
                self.request_preview(*self.context())
            except InputError as exc:  # nothing to preview yet: say what is missing
                self.status.setText(str(exc))

    def request_preview(self, canvas: np.ndarray | None, width: int, height: int) -> None:
        """Make the map the model will see at width x height on a thread; it shows when done."""
        units = self.units(canvas) or (
            ControlNetUnit(file="", image=self.image_path, module=self.module.currentText()),
        )
        self._generation += 1
        generation, mask = self._generation, None

        def work() -> None:
            try:
                from ldm_studio.engine.pipelines.control_images import control_preview

                self._previewed.emit(generation, control_preview(units[0], width, height, mask=mask), "")
            except Exception as exc:  # any failure is shown as a line, never a crash
                self._previewed.emit(generation, None, str(exc))

        threading.Thread(target=work, name="controlnet-preview", daemon=True).start()

    @Slot(int, object, str)
    def _show_preview(self, generation: int, array, error: str) -> None:
        if generation != self._generation:
            return  # an older request's
        if array is None:
            self.status.setText(error)
            self.errorOccurred.emit(error)
            return
        pixmap = QPixmap.fromImage(array_to_qimage(array))
        self.preview.setPixmap(pixmap.scaled(PREVIEW_SIDE, PREVIEW_SIDE, Qt.AspectRatioMode.KeepAspectRatio))
        self.status.setText(f"What the model sees at {array.shape[1]}x{array.shape[0]}")


def scrollable(panel: QWidget) -> QScrollArea:
    """The panel in a scroll area, so its dock does not make the window taller than a small screen."""
    area = QScrollArea()
    area.setWidget(panel)
    area.setWidgetResizable(True)
    return area
