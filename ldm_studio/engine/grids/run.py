"""Running an X/Y/Z plan: every cell an ordinary generation, then the labelled grid.

The engine is passed in (`load_model(request)`, `run(model, request, cancel)`: the same calls ordinary
generation makes), so this module stays torch-free and tests can script it. Cells run in the plan's
`run_order`, so a model is loaded once for all the cells that use it. Each cell is saved as soon as it
is done, as an ordinary image with its own parameters; the grid is saved last, with the base request's
parameters and the axes. A cancel (checked between cells, and inside a cell by the run itself) stops
the grid: the cells done so far stay saved, the grid image is not written.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ldm_studio.engine.errors import LdmError
from ldm_studio.engine.grids.compose import GridLayout, compose_grid, grid_infotext
from ldm_studio.engine.grids.plan import GridCell, GridPlan
from ldm_studio.engine.metadata.a1111 import format_infotext
from ldm_studio.engine.outputs import save_png_atomic
from ldm_studio.engine.requests import Cancelled, Event, GenerationRequest, Result


@dataclass(frozen=True)
class CellStarted:
    cell: GridCell
    position: int  # how many cells ran before this one
    total: int


@dataclass(frozen=True)
class CellEvent:
    """A Progress or Preview of the running cell."""

    cell: GridCell
    event: Event


@dataclass(frozen=True)
class CellDone:
    cell: GridCell
    image: Any = field(repr=False)  # PIL.Image.Image
    infotext: str
    path: Path | None  # where it was saved; None when the caller saves nothing
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class GridDone:
    image: Any = field(repr=False)  # PIL.Image.Image
    layout: GridLayout
    path: Path | None


@dataclass(frozen=True)
class GridCancelled:
    done: int  # cells finished (and saved) before the cancel
    total: int


GridEvent = CellStarted | CellEvent | CellDone | GridDone | GridCancelled


def cells_folder_for(grid_path: str | Path) -> Path:
    """Where the CLI keeps a grid's cells: `<grid name>-cells/` beside it."""
    grid_path = Path(grid_path).expanduser()
    return grid_path.with_name(f"{grid_path.stem}-cells")


def run_grid(
    plan: GridPlan,
    *,
    load_model: Callable[[GenerationRequest], Any],
    run: Callable[[Any, GenerationRequest, threading.Event], Iterator[Event]],
    cancel: threading.Event,
    cells_folder: str | Path | None = None,
    grid_path: str | Path | None = None,
) -> Iterator[GridEvent]:
    """Run every cell and yield its events, then compose the grid. Saves each cell into `cells_folder`
    and the grid at `grid_path` where given (a file name, or a folder to number it in)."""
    order = plan.run_order()
    images: dict[int, Any] = {}
    model, model_key, base_model_name = None, None, ""
    for position, cell in enumerate(order):
        if cancel.is_set():
            yield GridCancelled(position, len(order))
            return
        key = cell.request.model
        if key != model_key:
            model, model_key = None, None  # let the old weights go before the next ones load
            model, model_key = load_model(cell.request), key
            if key == plan.base.model:
                base_model_name = getattr(model, "name", "")
        yield CellStarted(cell, position, len(order))
        result = None
        for event in run(model, cell.request, cancel):
            if isinstance(event, Result):
                result = event
            elif isinstance(event, Cancelled):
                break
            else:
                yield CellEvent(cell, event)
        if result is None:
            if not cancel.is_set():
                raise LdmError("The engine stopped without a result.")
            yield GridCancelled(position, len(order))
            return
        image, infotext = result.images[0], result.infotexts[0]
        seed = result.seeds[0] if result.seeds else cell.request.seed
        path = None
        if cells_folder is not None:
            path = save_png_atomic(image, infotext, cell.request, Path(cells_folder).expanduser(), seed=seed)
        images[cell.index] = image
        yield CellDone(cell, image, infotext, path, tuple(result.notes))
    grid, layout = compose_grid(plan, images)
    path = None
    if grid_path is not None:
        name = base_model_name or Path(plan.base.model).stem
        base_text = format_infotext(plan.base, seed=plan.base.seed, model_name=name)
        path = save_png_atomic(grid, grid_infotext(base_text, plan), plan.base, Path(grid_path).expanduser())
    yield GridDone(grid, layout, path)
