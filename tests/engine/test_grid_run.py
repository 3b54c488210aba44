"""Running a plan on a scripted engine: cells saved with their own parameters, models loaded once per
group, the labelled grid composed, a cancel stopping between and inside cells."""

import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ldm_studio.engine.grids.compose import EMPTY, compose_grid
from ldm_studio.engine.grids.plan import build_plan
from ldm_studio.engine.grids.run import CellDone, CellEvent, CellStarted, GridCancelled, GridDone, run_grid
from ldm_studio.engine.metadata import read_png_request
from ldm_studio.engine.requests import Cancelled, GenerationRequest, Preview, Progress, Result

BASE = GenerationRequest(prompt="a red cat", width=32, height=48, steps=3, seed=11)


def colour(request):
    return (int(request.cfg_scale * 20) % 256, 50 if "red" in request.prompt else 200, request.steps * 10)


class Scripted:
    def __init__(self, cancel_at_step=None):
        self.loads, self.runs, self.cancel_at_step = [], [], cancel_at_step

    def load_model(self, request):
        self.loads.append(request.model)
        return type("Model", (), {"name": "scripted"})()

    def run(self, model, request, cancel):
        self.runs.append(request)
        for step in range(request.steps):
            if self.cancel_at_step is not None and len(self.runs) == 2 and step == self.cancel_at_step:
                cancel.set()
            if cancel.is_set():
                yield Cancelled(step, request.steps)
                return
            yield Progress(step + 1, request.steps)
            yield Preview(step + 1, request.steps, np.zeros((4, 4, 3), np.uint8))
        image = Image.new("RGB", (request.width, request.height), colour(request))
        yield Result(
            [image],
            [f"{request.prompt}\nSteps: {request.steps}, CFG scale: {request.cfg_scale:g}"],
            [request.seed],
        )


def test_the_grid_image_is_cells_times_cell_size_plus_label_strips_with_each_cell_in_place():
    plan = build_plan(BASE, "cfg=3,5,7", "prompt_sr=red,blue")
    images = {c.index: Image.new("RGB", (32, 48), colour(c.request)) for c in plan.cells}
    images[4] = None  # a cell that never finished
    grid, layout = compose_grid(plan, images)
    assert grid.size == layout.size == (layout.left + 3 * 32, layout.top + 2 * 48)
    assert layout.left > 0 and layout.top > 0 and layout.header == 0
    pixels = np.asarray(grid)
    for cell in plan.cells:
        left, top, right, bottom = layout.box(cell.x, cell.y)
        expected = EMPTY if cell.index == 4 else colour(cell.request)
        assert (pixels[top:bottom, left:right] == expected).all(), cell.labels
    # the labels are drawn: dark pixels in the top strip above each column and left of each row
    for x in range(3):
        left, top, right, _ = layout.box(x, 0)
        assert pixels[:top, left:right].min() < 100
    for y in range(2):
        left, top, _, bottom = layout.box(0, y)
        assert pixels[top:bottom, :left].min() < 100


def test_z_grids_stand_side_by_side_under_their_headers_and_small_cells_are_centred():
    plan = build_plan(BASE, "size=32x48,16x16", None, "steps=1,2")
    grid, layout = compose_grid(
        plan,
        {c.index: Image.new("RGB", (c.request.width, c.request.height), (255, 0, 0)) for c in plan.cells},
    )
    assert layout.top > 0 and layout.left == 0 and layout.header > 0 and layout.gap > 0
    assert grid.size == (2 * 2 * 32 + layout.gap, layout.header + layout.top + 48)
    pixels = np.asarray(grid)
    left, top, right, bottom = layout.box(1, 0, 1)
    slot = pixels[top:bottom, left:right]
    assert (slot[16:32, 8:24] == (255, 0, 0)).all() and (slot[:16] == 255).all()
    assert pixels[: layout.header, layout.origin(1)[0] :].min() < 100  # the second grid's Z header


def test_cells_are_saved_with_their_own_parameters_and_the_grid_with_the_base_ones(tmp_path):
    for name in ("a", "b"):
        (tmp_path / f"{name}.safetensors").write_bytes(b"x")
    base = BASE.replace(model=str(tmp_path / "a.safetensors"))
    plan = build_plan(base, "model=a,b", "cfg=2,4", models_folder=tmp_path)
    engine = Scripted()
    events = list(
        run_grid(
            plan,
            load_model=engine.load_model,
            run=engine.run,
            cancel=threading.Event(),
            cells_folder=tmp_path / "cells",
            grid_path=tmp_path / "grid.png",
        )
    )
    assert engine.loads == [str(tmp_path / "a.safetensors"), str(tmp_path / "b.safetensors")]  # once each
    started = [e.cell.index for e in events if isinstance(e, CellStarted)]
    assert started == [0, 2, 1, 3]  # model a's cells first
    assert sum(isinstance(e, CellEvent) and isinstance(e.event, Preview) for e in events) == 4 * 3
    done = [e for e in events if isinstance(e, CellDone)]
    assert len(done) == 4 and len({e.path for e in done}) == 4
    for event in done:
        stored = read_png_request(event.path)
        assert stored.cfg_scale == event.cell.request.cfg_scale
        assert stored.model == Path(event.cell.request.model).name  # shared files keep only the name
        assert Image.open(event.path).getpixel((0, 0)) == colour(event.cell.request)
    final = events[-1]
    assert isinstance(final, GridDone) and final.path == tmp_path / "grid.png"
    assert Image.open(final.path).size == final.layout.size
    assert read_png_request(final.path).cfg_scale == base.cfg_scale  # the base request, not a cell's
    text = Image.open(final.path).text["parameters"]
    assert (
        'X/Y/Z plot: "X: model=a.safetensors,b.safetensors; Y: cfg=2,4"' in text and "Model: scripted" in text
    )


@pytest.mark.parametrize("inside", [False, True])
def test_a_cancel_stops_the_grid_and_writes_no_grid_image(tmp_path, inside):
    plan = build_plan(BASE, "cfg=1,2,3")
    engine = Scripted(cancel_at_step=1 if inside else None)
    cancel = threading.Event()
    events = []
    for event in run_grid(
        plan,
        load_model=engine.load_model,
        run=engine.run,
        cancel=cancel,
        cells_folder=tmp_path / "cells",
        grid_path=tmp_path / "grid.png",
    ):
        events.append(event)
        if isinstance(event, CellDone) and not inside:
            cancel.set()  # between cells
    assert events[-1] == GridCancelled(1, 3)
    assert len(engine.runs) == (2 if inside else 1)
    assert not (tmp_path / "grid.png").exists()
    assert len(list((tmp_path / "cells").iterdir())) == 1  # the finished cell stays saved
