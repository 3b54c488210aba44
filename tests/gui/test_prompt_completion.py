"""The prompt box completes `<lora:` with the LoRA folder's names and embedding words as the user types."""

from __future__ import annotations

import pytest

from ldm_studio.gui.document import Document
from ldm_studio.gui.panels.prompt import PromptPanel
from ldm_studio.gui.panels.prompt_completion import Context, completion_context

EMBEDDINGS = ["badhands", "BadDream", "easyneg"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a cat <lora:", Context("lora", 6, "")),
        ("a cat <lora:in", Context("lora", 6, "in")),
        ("a cat <LYCO:in", Context("lora", 6, "in")),
        ("a cat <lora:ink:1> ", None),  # a closed tag
        ("a cat <lora:ink:", None),  # the weight is being typed
        ("blurry, ba", Context("embedding", 8, "ba")),
        ("blurry, b", None),  # one letter would offer every name
        ("blurry, badhands", None),  # already whole
        ("blurry, zz", None),
    ],
)
def test_what_to_complete(text, expected):
    assert completion_context(text, len(text), EMBEDDINGS) == expected


@pytest.fixture
def panel(qtbot) -> PromptPanel:
    panel = PromptPanel(Document())
    qtbot.addWidget(panel)
    panel.show()
    panel.completer.set_names(["ink", "inkwash", "xl_detail"], EMBEDDINGS)
    panel.prompt_edit.setFocus()
    qtbot.waitUntil(panel.prompt_edit.hasFocus, timeout=2000)
    return panel


def test_typing_a_lora_tag_offers_the_names_and_completes_the_tag(qtbot, panel):
    qtbot.keyClicks(panel.prompt_edit, "a cat <lora:in")
    completer = panel.completer.completer
    assert completer.popup().isVisible()
    assert [completer.completionModel().index(i, 0).data() for i in range(completer.completionCount())] == [
        "ink",
        "inkwash",
    ]
    completer.activated.emit("inkwash")
    assert panel.document.prompt == "a cat <lora:inkwash:1>"
    assert panel.prompt_edit.textCursor().position() == len("a cat <lora:inkwash:1>")


def test_typing_the_start_of_an_embedding_completes_its_word(qtbot, panel):
    qtbot.keyClicks(panel.prompt_edit, "blurry, bad")
    completer = panel.completer.completer
    assert completer.popup().isVisible() and completer.completionCount() == 2
    completer.activated.emit("BadDream")
    assert panel.document.prompt == "blurry, BadDream"


def test_nothing_is_offered_for_ordinary_words(qtbot, panel):
    qtbot.keyClicks(panel.prompt_edit, "a red circle")
    assert not panel.completer.completer.popup().isVisible()
