"""The prompt panel follows the document and writes what the user types into it."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from ldm_studio.engine.requests import MODES
from ldm_studio.gui.document import Document
from ldm_studio.gui.panels.prompt import PromptPanel


@pytest.fixture
def document() -> Document:
    return Document()


@pytest.fixture
def panel(qtbot, document) -> PromptPanel:
    panel = PromptPanel(document)
    qtbot.addWidget(panel)
    panel.show()
    return panel


def test_typing_a_prompt_and_negative_writes_the_document(qtbot, panel, document):
    qtbot.keyClicks(panel.prompt_edit, "a red circle")
    qtbot.keyClicks(panel.negative_edit, "blurry")
    assert (document.prompt, document.negative_prompt) == ("a red circle", "blurry")


def test_a_document_change_shows_in_the_widgets(panel, document):
    document.update({"prompt": "a blue square", "steps": 42, "cfg_scale": 9.5, "sampler": "dpmpp_2m"})
    document.seed = 3_000_000_000  # above a C int: A1111 seeds go up to 2^32 - 1
    assert panel.prompt_edit.toPlainText() == "a blue square"
    assert panel.steps_spin.value() == 42 and panel.cfg_spin.value() == 9.5
    assert panel.sampler_combo.currentText() == "DPM++ 2M"
    assert panel.seed_spin.text() == "3000000000"


def test_a_typed_width_shows_the_size_the_model_can_use(qtbot, panel, document):
    panel.width_spin.selectAll()
    qtbot.keyClicks(panel.width_spin, "517")
    qtbot.keyClick(panel.width_spin, Qt.Key.Key_Return)
    assert document.width == 512
    assert panel.width_spin.value() == 512


@pytest.mark.parametrize(
    ("mode", "shown", "hidden"),
    [
        ("txt2img", ["size_row"], ["strength_spin", "mask_blur_spin", "noise_level_spin"]),
        ("img2img", ["strength_spin"], ["size_row", "mask_blur_spin", "noise_level_spin"]),
        (
            "inpaint",
            ["strength_spin", "mask_blur_spin", "area_row"],
            ["size_row", "noise_level_spin"],
        ),
        ("upscale", ["noise_level_spin"], ["size_row", "strength_spin", "mask_blur_spin"]),
    ],
)
def test_each_mode_shows_only_its_own_parameters(qtbot, panel, document, mode, shown, hidden):
    panel.mode_tabs.setCurrentIndex(MODES.index(mode))  # as a click on the tab does
    assert document.mode == mode
    assert all(getattr(panel, name).isVisible() for name in shown)
    assert not any(getattr(panel, name).isVisible() for name in hidden)


def test_only_masked_enables_padding(qtbot, panel, document):
    document.mode = "inpaint"
    assert not panel.padding_spin.isEnabled()
    qtbot.mouseClick(panel.only_masked_check, Qt.MouseButton.LeftButton)
    assert document.inpaint_only_masked and panel.padding_spin.isEnabled()


def test_random_draws_a_seed_and_lock_keeps_it(qtbot, panel, document):
    document.seed = 7
    qtbot.mouseClick(panel.random_seed_button, Qt.MouseButton.LeftButton)
    assert document.seed != 7 and panel.seed_spin.value() == document.seed
    qtbot.mouseClick(panel.seed_lock_button, Qt.MouseButton.LeftButton)
    assert document.seed_locked and panel.seed_lock_button.isChecked()


def test_a_size_preset_sets_width_and_height(panel, document):
    panel.set_size_presets([(128, 128), (192, 128)])
    panel.size_presets_combo.activated.emit(2)  # what choosing the third entry emits
    assert (document.width, document.height) == (192, 128)
    assert panel.size_presets_combo.currentIndex() == 0  # back to "Presets", ready for the next pick


def test_generate_button_asks_to_generate(qtbot, panel):
    with qtbot.waitSignal(panel.generateClicked, timeout=1000):
        qtbot.mouseClick(panel.generate_button, Qt.MouseButton.LeftButton)
    panel.set_running(True)
    assert panel.generate_button.text() == "Queue" and panel.cancel_button.isEnabled()
