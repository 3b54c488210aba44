"""Saving results: never overwrite, never leave half a PNG, say clearly when the folder is unusable."""

import os
import stat
import threading

import pytest
from PIL import Image

from ldm_studio.engine import outputs
from ldm_studio.engine.errors import LdmError
from ldm_studio.engine.outputs import next_output_path, save_png_atomic, unique_path
from ldm_studio.engine.requests import GenerationRequest

REQUEST = GenerationRequest(prompt="a red square", seed=1234)
IMAGE = Image.new("RGB", (16, 16), (220, 30, 30))


def test_unique_path_keeps_a_free_name_and_numbers_taken_ones(tmp_path):
    assert unique_path(tmp_path / "cat.png") == tmp_path / "cat.png"
    assert unique_path(tmp_path / "cat.png") == tmp_path / "cat-1.png"
    assert unique_path(tmp_path / "cat.png") == tmp_path / "cat-2.png"


def test_unique_path_never_hands_out_the_same_name_twice_under_concurrency(tmp_path):
    results, barrier = [], threading.Barrier(8)

    def reserve():
        barrier.wait()
        results.append(unique_path(tmp_path / "out.png"))

    threads = [threading.Thread(target=reserve) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 8


def test_next_output_path_continues_the_folder_numbering(tmp_path):
    assert next_output_path(tmp_path / "new", "42") == tmp_path / "new" / "00001-42.png"
    (tmp_path / "00007-1.png").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("not numbered")
    (tmp_path / "2024-05-01.png").write_bytes(b"x")  # a date-like name still counts as numbered, like A1111
    assert next_output_path(tmp_path, "99").name == "02025-99.png"


def test_saving_onto_an_existing_file_keeps_it_and_picks_a_numbered_name(tmp_path):
    existing = tmp_path / "result.png"
    existing.write_bytes(b"the user's own file")
    saved = save_png_atomic(IMAGE, "a red square\nSteps: 20", REQUEST, existing)
    assert saved == tmp_path / "result-1.png"
    assert existing.read_bytes() == b"the user's own file"
    with Image.open(saved) as image:
        assert image.getpixel((5, 5)) == (220, 30, 30)
        assert image.text["parameters"] == "a red square\nSteps: 20"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result-1.png", "result.png"]  # no temp files left


def test_saving_into_a_folder_numbers_files_by_seed(tmp_path):
    first = save_png_atomic(IMAGE, "x", REQUEST, tmp_path / "outputs")
    second = save_png_atomic(IMAGE, "x", REQUEST, tmp_path / "outputs", seed=1235)
    assert (first.name, second.name) == ("00001-1234.png", "00002-1235.png")


def test_saved_file_gets_ordinary_permissions_not_private_temp_ones(tmp_path):
    saved = save_png_atomic(IMAGE, "x", REQUEST, tmp_path / "a.png")
    plain = tmp_path / "plain"
    plain.touch()
    assert stat.S_IMODE(saved.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)


def test_a_crash_while_writing_leaves_no_file_behind(tmp_path, monkeypatch):
    def crash(file, *args):
        file.write(b"\x89PNG half an image")
        raise RuntimeError("power cut")

    monkeypatch.setattr(outputs, "write_png", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        save_png_atomic(IMAGE, "x", REQUEST, tmp_path / "out.png")
    assert list(tmp_path.iterdir()) == []


def test_an_unusable_folder_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    for destination in (blocker / "out.png", blocker / "sub" / "deeper"):
        with pytest.raises(LdmError, match=r"file is a file, not a folder\. Choose another output folder"):
            save_png_atomic(IMAGE, "x", REQUEST, destination)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can write anywhere")
def test_a_read_only_folder_is_a_clear_error(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(LdmError, match="locked"):
            save_png_atomic(IMAGE, "x", REQUEST, folder)
    finally:
        folder.chmod(0o700)
