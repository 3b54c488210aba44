"""A damaged settings file: the app starts with defaults for the bad keys, says so once, keeps a copy."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings

from ldm_studio.gui.document import Document
from ldm_studio.gui.settings import Settings, default_models_folder


def _open(path) -> Settings:
    return Settings(QSettings(str(path), QSettings.Format.IniFormat))


BAD_FILES = {
    "list for a path": "[folders]\nmodels=a, b, c\n",
    "non-finite cfg": '[document]\nvalues="{\\"cfg_scale\\": NaN, \\"prompt\\": \\"x\\"}"\n',
    "infinite steps": '[document]\nvalues="{\\"steps\\": 1e999}"\n',
    "nested deep": "[document]\nvalues=" + "[" * 100_000 + "\n",
    "document a list": '[document]\nvalues="[1, 2]"\n',
    "long integer": '[document]\nvalues={\\"seed\\": ' + "9" * 5000 + "}\n",
}


@pytest.mark.parametrize("content", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_a_damaged_key_falls_back_to_its_default_and_is_reported_once(tmp_path, content):
    file = tmp_path / "ldm_studio.conf"
    file.write_text(content)
    settings = _open(file)
    assert settings.problems and "\n" not in settings.problem_summary()
    assert (tmp_path / "ldm_studio.conf.bad").read_text() == content
    Document().update(settings.document, strict=False)  # what the window does: no exception
    assert settings.models_folder == default_models_folder()
    settings.sync()
    assert _open(file).problems == []  # said once: the bad keys are gone


def test_good_keys_survive_next_to_a_bad_one(tmp_path):
    file = tmp_path / "s.ini"
    file.write_text(f"[folders]\nmodels=a, b\noutputs={tmp_path / 'out'}\n")
    settings = _open(file)
    assert settings.outputs_folder == tmp_path / "out"
    assert any("folders/models" in line for line in settings.problems)
