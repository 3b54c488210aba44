"""The gallery keeps every result and does what its actions say."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from ldm_studio.engine.metadata import read_png_request
from ldm_studio.engine.requests import GenerationRequest
from ldm_studio.gui.jobs.worker import ResultImage
from ldm_studio.gui.panels.gallery import Gallery
from ldm_studio.gui.qt_images import array_to_qimage

REQUEST = GenerationRequest(prompt="a red circle", steps=5, width=16, height=16)


def result(seed: int, path: Path | None = None) -> ResultImage:
    pixels = np.full((16, 16, 3), seed, np.uint8)
    infotext = f"a red circle\nSteps: 5, Sampler: Euler, Seed: {seed}, Size: 16x16"
    return ResultImage(array_to_qimage(pixels), infotext, seed, REQUEST.replace(seed=seed), path)


@pytest.fixture
def gallery(qtbot, tmp_path) -> Gallery:
    gallery = Gallery()
    gallery.output_folder = tmp_path
    qtbot.addWidget(gallery)
    gallery.resize(600, 160)
    gallery.show()
    return gallery


def test_results_appear_newest_first_and_the_newest_is_selected(gallery):
    gallery.add_results([result(1)])
    gallery.add_results([result(2), result(3)])
    assert gallery.list.count() == 3
    assert [r.seed for r in gallery.results] == [3, 2, 1]
    assert gallery.selected().seed == 3
    assert gallery.list.item(0).text() == "seed 3"


def test_clicking_a_thumbnail_asks_to_view_that_image(qtbot, gallery):
    gallery.add_results([result(1), result(2)])
    older = gallery.list.item(1)
    with qtbot.waitSignal(gallery.viewRequested, timeout=1000) as signal:
        qtbot.mouseClick(
            gallery.list.viewport(),
            Qt.MouseButton.LeftButton,
            pos=gallery.list.visualItemRect(older).center(),
        )
    assert signal.args[0].seed == 1


def test_use_as_input_names_the_mode(qtbot, gallery):
    assert not gallery.use_actions["inpaint"].isEnabled()  # nothing to use yet
    gallery.add_results([result(4)])
    with qtbot.waitSignal(gallery.useAsInput, timeout=1000) as signal:
        gallery.use_actions["inpaint"].trigger()
    assert signal.args[0].seed == 4 and signal.args[1] == "inpaint"


def test_save_as_never_replaces_an_existing_file(gallery, tmp_path):
    existing = tmp_path / "mine.png"
    existing.write_bytes(b"keep me")
    gallery.ask_save_path = lambda parent, suggested: str(existing)
    messages = []
    gallery.message.connect(messages.append)
    gallery.add_results([result(9)])
    gallery.save_selected_as()

    assert existing.read_bytes() == b"keep me"
    written = tmp_path / "mine-1.png"
    assert read_png_request(written).seed == 9
    assert messages == [f"Saved {written} (mine.png exists and was kept)"]


def test_copy_parameters_puts_the_infotext_on_the_clipboard(gallery):
    gallery.add_results([result(5)])
    gallery.copy_action.trigger()
    assert QGuiApplication.clipboard().text().endswith("Seed: 5, Size: 16x16")


def test_open_output_folder_opens_it_or_says_why_not(gallery, tmp_path):
    opened, errors = [], []
    gallery.open_url = opened.append
    gallery.errorOccurred.connect(errors.append)
    gallery.open_folder_action.trigger()
    assert [url.toLocalFile() for url in opened] == [str(tmp_path)]
    gallery.output_folder = tmp_path / "missing"
    gallery.open_folder_action.trigger()
    assert len(opened) == 1 and "does not exist yet" in errors[0]
