"""The engine's warm-up imports: run in a fresh interpreter, since this one has imported them already."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys
from ldm_studio.engine.runtime.preload import import_engine_modules
assert "transformers.models.clip.modeling_clip" not in sys.modules
import_engine_modules()
slow = ("torch", "transformers.models.clip.modeling_clip", "ldm_studio.engine.nets.text",
        "ldm_studio.engine.pipelines.run")
print([name for name in slow if name not in sys.modules], "PySide6" in sys.modules)
"""


def test_warm_up_imports_the_slow_modules_of_a_first_load_and_no_qt():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "False"]
