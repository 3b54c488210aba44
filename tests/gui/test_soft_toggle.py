"""The inpaint row's "Soft" toggle: a click sets soft inpainting in the request the worker gets."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from ldm_studio.gui.document import Document
from ldm_studio.gui.panels.prompt import PromptPanel


def test_clicking_soft_puts_soft_inpainting_into_the_request(qtbot):
    document = Document()
    panel = PromptPanel(document)
    qtbot.addWidget(panel)
    panel.show()
    assert not panel.soft_check.isVisible()  # txt2img: no inpaint row
    document.mode = "inpaint"
    assert panel.soft_check.isVisible() and not panel.soft_check.isChecked()
    image, mask = np.zeros((64, 64, 3), np.uint8), np.full((64, 64), 128, np.uint8)
    assert document.to_request(image, mask).soft_inpainting is False

    qtbot.mouseClick(panel.soft_check, Qt.MouseButton.LeftButton)
    request = document.to_request(image, mask)
    assert document.soft_inpainting and request.soft_inpainting is True
    assert request.mask[0, 0] == 128  # the grey level travels as it is: strength, not a threshold

    qtbot.mouseClick(panel.soft_check, Qt.MouseButton.LeftButton)
    assert document.to_request(image, mask).soft_inpainting is False


def test_a_png_with_soft_inpainting_turns_the_toggle_on(qtbot):
    from ldm_studio.engine.metadata import request_from_infotext

    document = Document()
    panel = PromptPanel(document)
    qtbot.addWidget(panel)
    text = "x\nSteps: 2, Sampler: Euler, Seed: 1, Mask blur: 4, Soft inpainting enabled: True"
    document.apply_parameters(request_from_infotext(text))
    assert panel.soft_check.isChecked()
