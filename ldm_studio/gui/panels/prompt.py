"""The prompt panel: mode tabs, prompts and sampling parameters, bound to the document.

Every widget writes into the `Document` and follows it back (see bindings.py), so a dropped PNG or a
restored session shows up here without the panel knowing where the change came from. Rows that do not
apply to the current mode are hidden, not disabled, so the panel only shows what matters now.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTabBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ldm_studio.engine.metadata.a1111 import A1111_UPSCALER_NAMES
from ldm_studio.engine.requests import MODES, SAMPLERS, SCHEDULES
from ldm_studio.engine.validation import MAX_HIRES_SCALE
from ldm_studio.gui.bindings import bind_check, bind_choice, bind_spin, bind_tabs, bind_text
from ldm_studio.gui.document import MAX_SEED, MODE_LABELS, Document
from ldm_studio.gui.panels.prompt_completion import PromptCompleter
from ldm_studio.gui.panels.size_presets import Size, is_sdxl, size_presets, small_size_note

# The names A1111 users know. The GUI's own labels: they happen to read as A1111 writes its "Sampler:"
# (engine/metadata/a1111.py), but a label may change without changing what files say.
_SAMPLER_NAMES = {
    "ddim": "DDIM",
    "plms": "PLMS",
    "euler": "Euler",
    "euler_a": "Euler a",
    "heun": "Heun",
    "dpmpp_2m": "DPM++ 2M",
    "dpmpp_2m_sde": "DPM++ 2M SDE",
    "lcm": "LCM",
}
SAMPLER_LABELS = {name: _SAMPLER_NAMES.get(name, name) for name in SAMPLERS}
# Every schedule the engine has ("trailing": what Turbo / Lightning / LCM models expect).
SCHEDULE_LABELS = {name: name.capitalize() for name in SCHEDULES}
REFINER_MODES = ("txt2img", "img2img")  # where the engine runs a refiner hand-off
NO_REFINER = "None"


def _spin(low: int, high: int, step: int = 1) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setSingleStep(step)
    return spin


def _double_spin(low: float, high: float, step: float, decimals: int) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(low, high)
    spin.setSingleStep(step)
    spin.setDecimals(decimals)
    return spin


def _row(*widgets: QWidget) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        layout.addWidget(widget)
    return row


class PromptPanel(QWidget):
    generateClicked = Signal()
    cancelClicked = Signal()

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        layout = QVBoxLayout(self)

        self.mode_tabs = QTabBar()
        for mode in MODES:
            self.mode_tabs.addTab(MODE_LABELS[mode])
        bind_tabs(document, "mode", self.mode_tabs, MODES)
        layout.addWidget(self.mode_tabs)

        self.prompt_edit = QPlainTextEdit()
        self.prompt_edit.setPlaceholderText("Describe the image, e.g. “a red circle on a blue background”")
        self.negative_edit = QPlainTextEdit()
        self.negative_edit.setPlaceholderText("Negative prompt: what to keep out of the image")
        self.negative_edit.setMaximumHeight(70)
        bind_text(document, "prompt", self.prompt_edit)
        bind_text(document, "negative_prompt", self.negative_edit)
        self.completer = PromptCompleter(self.prompt_edit)  # `<lora:` and embedding names
        layout.addWidget(self.prompt_edit, stretch=2)
        layout.addWidget(self.negative_edit, stretch=1)

        self.form = QFormLayout()
        layout.addLayout(self.form)
        self._build_sampling_rows()
        self._build_mode_rows()

        self.generate_button = QPushButton("Generate")
        self.generate_button.setToolTip("Generate (Ctrl+Enter)")
        self.generate_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Cancel the running and queued jobs (Esc)")
        self.generate_button.clicked.connect(self.generateClicked)
        self.cancel_button.clicked.connect(self.cancelClicked)
        layout.addWidget(_row(self.generate_button, self.cancel_button))

        self._family: str | None = None  # of the chosen model
        self._trained: Size | None = None
        document.changed.connect(self._on_document_changed)
        self._show_rows_for_mode()
        self.set_size_presets(size_presets(None))
        self.set_refiners([])

    def _build_sampling_rows(self) -> None:
        document = self.document
        self.sampler_combo, self.schedule_combo = QComboBox(), QComboBox()
        bind_choice(document, "sampler", self.sampler_combo, SAMPLER_LABELS)
        bind_choice(document, "schedule", self.schedule_combo, SCHEDULE_LABELS)
        self.form.addRow("Sampler", _row(self.sampler_combo, self.schedule_combo))

        self.steps_spin = _spin(1, 500)
        self.cfg_spin = _double_spin(0.0, 50.0, 0.5, 1)
        bind_spin(document, "steps", self.steps_spin)
        bind_spin(document, "cfg_scale", self.cfg_spin)
        self.cfg_rescale_spin = _double_spin(0.0, 1.0, 0.05, 2)
        self.cfg_rescale_spin.setToolTip(
            "CFG rescale φ: tames the over-bright, burnt look of v-prediction and zero-terminal-SNR"
            " models (0.7 is usual for them; 0 = off)"
        )
        bind_spin(document, "cfg_rescale", self.cfg_rescale_spin)
        self.form.addRow("Steps", self.steps_spin)
        self.cfg_row = _row(self.cfg_spin, QLabel("rescale"), self.cfg_rescale_spin)
        self.form.addRow("CFG scale", self.cfg_row)

        self.seed_spin = _double_spin(0, MAX_SEED, 1, 0)  # QSpinBox stops at 2³¹-1; seeds go to 2³²-1
        self.random_seed_button = QToolButton(text="Random")
        self.random_seed_button.setToolTip("Draw a new random seed")
        self.random_seed_button.clicked.connect(lambda: document.randomize_seed())
        self.seed_lock_button = QToolButton(text="Lock")
        self.seed_lock_button.setToolTip("Keep this seed for the next runs (unlocked: a new seed every run)")
        bind_spin(document, "seed", self.seed_spin)
        bind_check(document, "seed_locked", self.seed_lock_button)
        self.form.addRow("Seed", _row(self.seed_spin, self.random_seed_button, self.seed_lock_button))

        self.width_spin, self.height_spin = _spin(64, 4096, 8), _spin(64, 4096, 8)
        self.size_presets_combo = QComboBox()
        self.size_presets_combo.setToolTip("Sizes that suit the chosen model")
        self.size_presets_combo.activated.connect(self._apply_size_preset)
        bind_spin(document, "width", self.width_spin)
        bind_spin(document, "height", self.height_spin)
        self.size_row = _row(self.width_spin, QLabel("×"), self.height_spin, self.size_presets_combo)
        self.form.addRow("Size", self.size_row)
        self.size_note = QLabel()
        self.size_note.setWordWrap(True)
        self.size_note.setObjectName("size_note")
        self.form.addRow(self.size_note)

        self.batch_spin = _spin(1, 16)
        bind_spin(document, "batch_size", self.batch_spin)
        self.batch_row = _row(self.batch_spin)  # the hires fix toggle joins it (txt2img)
        self.form.addRow("Batch size", self.batch_row)

    def _build_mode_rows(self) -> None:
        document = self.document
        self.strength_spin = _double_spin(0.0, 1.0, 0.05, 2)
        self.strength_spin.setToolTip("How much of the input is repainted: 0 keeps it, 1 ignores it")
        bind_spin(document, "strength", self.strength_spin)
        self.form.addRow("Strength", self.strength_spin)

        self.mask_blur_spin = _spin(0, 64)
        bind_spin(document, "mask_blur", self.mask_blur_spin)
        self.form.addRow("Mask blur", self.mask_blur_spin)

        self.only_masked_check = QToolButton(text="Only masked area")
        self.only_masked_check.setToolTip("Work on a crop around the mask, at full resolution")
        self.padding_spin = _spin(0, 512, 8)
        self.padding_spin.setToolTip("Pixels of context around the mask crop")
        bind_check(document, "inpaint_only_masked", self.only_masked_check)
        bind_spin(document, "inpaint_padding", self.padding_spin)
        self.soft_check = QToolButton(text="Soft")
        self.soft_check.setToolTip(
            "Soft inpainting: grey mask values repaint partly (brush hardness and feather make soft edges)"
        )
        bind_check(document, "soft_inpainting", self.soft_check)
        self.area_row = _row(self.only_masked_check, QLabel("padding"), self.padding_spin, self.soft_check)
        self.form.addRow("Area", self.area_row)

        self.noise_level_spin = _spin(0, 350)
        self.noise_level_spin.setToolTip(
            "Noise added to the low-resolution input (higher: more invented detail; 0 keeps a clean"
            " input as it is). Starts at the model's own: 20 for SD's x4 upscaler, 0 for the demo"
        )
        bind_spin(document, "noise_level", self.noise_level_spin)
        self.form.addRow("Noise level", self.noise_level_spin)

        self.refiner_combo = QComboBox()
        self.refiner_combo.setToolTip("An SDXL refiner that finishes the last part of the steps")
        self.refiner_combo.activated.connect(
            lambda index: setattr(document, "refiner", self.refiner_combo.itemData(index) or "")
        )
        self.refiner_switch_spin = _double_spin(0.01, 0.99, 0.05, 2)
        self.refiner_switch_spin.setToolTip("The share of the steps the base model runs before the refiner")
        bind_spin(document, "refiner_switch", self.refiner_switch_spin)
        self.refiner_row = _row(self.refiner_combo, QLabel("switch at"), self.refiner_switch_spin)
        self.form.addRow("Refiner", self.refiner_row)
        self._build_hires_row()

    def _build_hires_row(self) -> None:
        document = self.document
        self.hires_check = QToolButton(text="Hires fix")
        self.hires_check.setToolTip("Generate, upscale, then repaint at the larger size with the same seed")
        self.hires_scale_spin = _double_spin(1.0, MAX_HIRES_SCALE, 0.25, 2)
        self.hires_scale_spin.setToolTip("Upscale by (the size is the first pass's)")
        self.hires_upscaler_combo = QComboBox()
        self.hires_upscaler_combo.setToolTip("How the first pass is upscaled")
        # "Latent (nearest-exact)" would widen the whole panel: the combo shows 8 characters.
        self.hires_upscaler_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.hires_upscaler_combo.setMinimumContentsLength(8)
        self.hires_denoise_spin = _double_spin(0.0, 1.0, 0.05, 2)
        self.hires_denoise_spin.setToolTip("Denoising strength of the second pass (0.3–0.7)")
        bind_check(document, "hires", self.hires_check)
        bind_spin(document, "hires_scale", self.hires_scale_spin)
        bind_choice(document, "hires_upscaler", self.hires_upscaler_combo, A1111_UPSCALER_NAMES)
        bind_spin(document, "hires_denoise", self.hires_denoise_spin)
        # The toggle sits beside the batch size; its options take a row of their own only while it is on,
        # so the panel (and the window's smallest size) does not grow for those who never use it.
        self.batch_row.layout().addWidget(self.hires_check)
        self.hires_row = _row(
            QLabel("×"),
            self.hires_scale_spin,
            self.hires_upscaler_combo,
            QLabel("denoise"),
            self.hires_denoise_spin,
        )
        self.form.addRow("Hires fix", self.hires_row)

    def _on_document_changed(self, name: str) -> None:
        if name == "mode":
            self._show_rows_for_mode()
        elif name in ("width", "height"):
            self._show_size_note()
        elif name == "refiner":
            self._select_refiner()
        elif name == "inpaint_only_masked":
            self.padding_spin.setEnabled(self.document.inpaint_only_masked)
        elif name == "hires":
            self._show_hires_options()

    def _show_rows_for_mode(self) -> None:
        mode = self.document.mode
        visible = {
            self.size_row: mode == "txt2img",  # other modes take the input image's size
            self.strength_spin: mode in ("img2img", "inpaint"),
            self.mask_blur_spin: mode == "inpaint",
            self.area_row: mode == "inpaint",
            self.noise_level_spin: mode == "upscale",
            self.refiner_row: self.refiner_applies(),
            self.hires_row: mode == "txt2img" and self.document.hires,
        }
        for widget, shown in visible.items():
            self.form.setRowVisible(widget, shown)
        # Upscalers other than SD's x4 (the bundled demo, CompVis LDM-BSR) read no text: their prompt
        # and guidance would do nothing, so they are not shown.
        uses_text = mode != "upscale" or self._family == "sd-x4-upscaler"
        self.prompt_edit.setVisible(uses_text)
        self.negative_edit.setVisible(uses_text)
        self.form.setRowVisible(self.cfg_row, uses_text)
        self.padding_spin.setEnabled(self.document.inpaint_only_masked)
        self._show_hires_options()
        self._show_size_note()

    def _show_hires_options(self) -> None:
        txt2img = self.document.mode == "txt2img"
        self.hires_check.setVisible(txt2img)
        self.form.setRowVisible(self.hires_row, txt2img and self.document.hires)

    def refiner_applies(self) -> bool:
        """A refiner hand-off is offered for SDXL models in the modes the engine runs one."""
        return is_sdxl(self._family) and self.document.mode in REFINER_MODES

    def set_model(self, family: str | None, trained: Size | None) -> None:
        """The chosen model's family and trained size: its size presets, the refiner row, the size note."""
        self._family, self._trained = family, trained
        self.set_size_presets(size_presets(trained, family))
        self._show_rows_for_mode()

    def set_refiners(self, choices: list[tuple[str, str]]) -> None:
        """(title, model path) of the models that can refine; "None" comes first."""
        with QSignalBlocker(self.refiner_combo):
            self.refiner_combo.clear()
            self.refiner_combo.addItem(NO_REFINER, "")
            for title, path in choices:
                self.refiner_combo.addItem(title, path)
        self._select_refiner()

    def _select_refiner(self) -> None:
        chosen = self.document.refiner
        with QSignalBlocker(self.refiner_combo):
            index = self.refiner_combo.findData(chosen)
            if index < 0 and chosen:
                self.refiner_combo.addItem(f"{Path(chosen).name} (not found)", chosen)
                index = self.refiner_combo.count() - 1
            self.refiner_combo.setCurrentIndex(max(0, index))

    def _show_size_note(self) -> None:
        note = small_size_note((self.document.width, self.document.height), self._trained)
        self.size_note.setText(note)
        self.form.setRowVisible(self.size_note, bool(note) and self.document.mode == "txt2img")

    def set_size_presets(self, presets: list[Size]) -> None:
        self._presets = presets
        self.size_presets_combo.clear()
        self.size_presets_combo.addItem("Presets")
        for width, height in presets:
            self.size_presets_combo.addItem(f"{width} × {height}")

    def _apply_size_preset(self, index: int) -> None:
        if index > 0:
            self.document.width, self.document.height = self._presets[index - 1]
        self.size_presets_combo.setCurrentIndex(0)

    def set_running(self, running: bool) -> None:
        """While a job runs, Generate still works (it queues) and says so."""
        self.generate_button.setText("Queue" if running else "Generate")
        self.cancel_button.setEnabled(running)

    def focus_prompt(self) -> None:
        self.prompt_edit.setFocus(Qt.FocusReason.OtherFocusReason)
