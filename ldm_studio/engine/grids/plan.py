"""An X/Y/Z plot as a plan: the axes a user typed, read and checked, and the cells they make.

An axis is `name=v1,v2,v3`. Values are split as one CSV line, so a value with a comma is quoted
(`prompt_sr=red,"blue, green"`). Number axes take ranges too: `1-5` (every whole number), `10-30 (+10)`
(a step), `0.2-1 [5]` (five evenly spaced values). `lora_weight=NAME:0.2,0.6,1` names its LoRA in the
first value (no name: the one LoRA of the prompt); `prompt_sr=red,blue,green` replaces the first value,
which must occur in the prompt or the negative prompt, by each value in turn (the first cell keeps it).

Every value is checked before anything runs; a bad one is one `InputError` line naming the axis, the
value and why. Cells are ordered X fastest, then Y, then Z; `run_order` groups the cells that share a
model so a model is loaded once.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ldm_studio.engine.adapters.folders import find_adapter
from ldm_studio.engine.adapters.prompt_tags import parse_lora_tags
from ldm_studio.engine.errors import InputError, LdmError
from ldm_studio.engine.grids.axes import (
    AXIS_ALIASES,
    AXIS_KINDS,
    AxisContext,
    AxisKind,
    AxisValueError,
    ModelFacts,
)
from ldm_studio.engine.requests import GenerationRequest
from ldm_studio.engine.validation import check_limits, nearest_multiples

MAX_CELLS = 500  # a grid larger than this is more likely a typo in a range than a plan
LETTERS = ("X", "Y", "Z")
_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)"
_STEP = r"[+-]?\s*(?:\d+(?:\.\d*)?|\.\d+)"
# start-end, then an optional (+step) or [count]
_RANGE = re.compile(rf"^\s*({_NUMBER})\s*-\s*({_NUMBER})\s*(?:\(\s*({_STEP})\s*\)|\[\s*(\d+)\s*\])?\s*$")


@dataclass(frozen=True)
class Axis:
    kind: AxisKind
    values: tuple[Any, ...]
    labels: tuple[str, ...]  # as shown on the grid
    param: Any = None  # lora_weight: the LoRA's name; prompt_sr: the text replaced

    @property
    def name(self) -> str:
        return self.kind.name

    def header(self, index: int) -> str:
        """The label of value `index` as the grid shows it ("CFG: 7", "LoRA x: 0.5", "red")."""
        title = f"LoRA {self.param}" if self.name == "lora_weight" else self.kind.title
        return f"{title}: {self.labels[index]}" if title else self.labels[index]

    def spec(self) -> str:
        """The axis as `name=v1,v2` (CSV-quoted where needed), e.g. for the grid's metadata."""
        values = list(self.labels)
        if self.name == "lora_weight":
            values[0] = f"{self.param}:{values[0]}"
        elif self.name == "model":  # file names (resolved in the models folder), not private paths
            values = [Path(v).name for v in self.values]
        return f"{self.name}={','.join(_quoted(v) for v in values)}"


@dataclass(frozen=True)
class GridCell:
    index: int  # position in `GridPlan.cells` (X fastest, then Y, then Z)
    x: int
    y: int
    z: int
    labels: tuple[str, str, str]  # the X, Y and Z headers of this cell ("" for an unused axis)
    request: GenerationRequest


@dataclass(frozen=True)
class GridPlan:
    base: GenerationRequest
    axes: tuple[Axis | None, Axis | None, Axis | None]
    cells: tuple[GridCell, ...]

    @property
    def shape(self) -> tuple[int, int, int]:
        """(columns, rows, grids): the X, Y and Z value counts (1 for an unused axis)."""
        return tuple(len(a.values) if a is not None else 1 for a in self.axes)  # type: ignore[return-value]

    def cell(self, x: int, y: int, z: int = 0) -> GridCell:
        nx, ny, _ = self.shape
        return self.cells[(z * ny + y) * nx + x]

    def run_order(self) -> list[GridCell]:
        """The cells with those of one model together (in the order models first appear)."""
        first: dict[str, int] = {}
        for cell in self.cells:
            first.setdefault(cell.request.model, len(first))
        return sorted(self.cells, key=lambda c: (first[c.request.model], c.index))

    def describe(self) -> str:
        """`X: cfg=3,5,7; Y: prompt_sr=red,blue`: the axes, as they can be typed again."""
        return "; ".join(
            f"{letter}: {axis.spec()}" for letter, axis in zip(LETTERS, self.axes, strict=True) if axis
        )


def _echo(text: str, limit: int = 80) -> str:
    """A value as a message quotes it: repr (so a newline stays on the line), cut short if long."""
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _quoted(text: str) -> str:
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if any(c in text for c in ',"') else text


def split_axis(text: str, letter: str = "X") -> tuple[str, list[str]]:
    """`name=v1,v2` → (the axis kind's name, the raw values); unknown names and empty axes are errors."""
    name, eq, values = text.partition("=")
    key = " ".join(name.strip().lower().split())
    key = AXIS_ALIASES.get(key, key)
    if not eq or key not in AXIS_KINDS:
        names = ", ".join(AXIS_KINDS)
        raise InputError(
            f"{letter} axis {_echo(text.strip())}: write name=value1,value2,… with a name of {names}"
        )
    try:
        items = next(csv.reader([values], skipinitialspace=True), [])
    except csv.Error as exc:
        raise InputError(f"{letter} axis {key}: cannot split {_echo(values)} into values ({exc})") from None
    items = [item.strip() for item in items if item.strip()]
    if not items:
        raise InputError(f"{letter} axis {key}: no values (write {key}=value1,value2,…)")
    return key, items


def expand_range(text: str, numbers: str) -> list[str] | None:
    """The values a range item stands for, as text; None when `text` is not a range."""
    match = _RANGE.match(text)
    if not match:
        return None
    start, end = float(match.group(1)), float(match.group(2))
    step_text, count_text = match.group(3), match.group(4)
    if count_text is not None:
        count = int(count_text)
        if not 1 <= count <= MAX_CELLS:
            raise AxisValueError(f"asks for {count} values: 1 to {MAX_CELLS}")
        values = [start + (end - start) * i / max(1, count - 1) for i in range(count)]
    else:
        step = float(step_text.replace(" ", "")) if step_text else (1.0 if end >= start else -1.0)
        if step == 0 or (end - start) * step < 0:
            raise AxisValueError("has a step that never reaches the end of the range")
        count = math.floor((end - start) / step + 1e-9) + 1
        if count > MAX_CELLS:
            raise AxisValueError(f"makes {count} values: at most {MAX_CELLS}")
        values = [start + step * i for i in range(count)]
    if numbers == "int":
        return [str(round(v)) for v in values]
    return [f"{round(v, 6):g}" for v in values]


def _lora_name(items: list[str], base: GenerationRequest, letter: str) -> tuple[str, list[str]]:
    """The LoRA a lora_weight axis weighs (`NAME:` before a value, else the only one in the request)
    and the values without their names."""
    names, weights = set(), []
    for item in items:
        name, colon, weight = item.rpartition(":")
        if colon:
            names.add(name.strip())
        weights.append(weight.strip() if colon else item)
    in_prompt = {tag.name for tag in parse_lora_tags(base.prompt)[1]}
    explicit = {Path(path).stem for path, _, _ in base.loras}
    if len(names) > 1:
        raise InputError(
            f"{letter} axis lora_weight: one LoRA per axis (it names {', '.join(sorted(names))})"
        )
    if not names:
        known = in_prompt | explicit
        if len(known) != 1:
            raise InputError(
                f"{letter} axis lora_weight: name the LoRA, as lora_weight=NAME:0.2,0.6,1 "
                f"({'the request has ' + ', '.join(sorted(known)) if known else 'the request has none'})"
            )
        names = known
    name = names.pop()
    if name not in in_prompt | explicit and find_adapter(name, base.lora_dir) is None:
        where = f"in {base.lora_dir}" if base.lora_dir else "(no LoRA folder is set)"
        raise InputError(f"{letter} axis lora_weight: no LoRA named {_echo(name)} {where}")
    return name, weights


def read_axis(text: str, letter: str, ctx: AxisContext) -> Axis:
    """One axis, every value read and checked for the request `ctx.base`."""
    key, items = split_axis(text, letter)
    kind = AXIS_KINDS[key]
    base = ctx.base
    if base.mode not in kind.modes:
        raise InputError(f"{letter} axis {key}: only for {' and '.join(kind.modes)}, not {base.mode}")
    param: Any = None
    if key == "lora_weight":
        param, items = _lora_name(items, base, letter)
    elif key == "prompt_sr":
        param = items[0]
        if param not in base.prompt and param not in base.negative_prompt:
            raise InputError(
                f"{letter} axis prompt_sr: {_echo(param)} is not in the prompt or the negative prompt "
                "(the first value is the text the others replace)"
            )
    values: list[Any] = []
    for item in items:
        try:
            expanded = expand_range(item, kind.numbers) if kind.numbers else None
            values += [kind.read(value, ctx) for value in expanded or [item]]
        except AxisValueError as exc:
            raise InputError(f"{letter} axis {key}: {_echo(item)} {exc}") from None
        if len(values) > MAX_CELLS:
            raise InputError(f"{letter} axis {key}: more than {MAX_CELLS} values")
    return Axis(kind, tuple(values), tuple(kind.label(v) for v in values), param)


def build_plan(
    base: GenerationRequest,
    x: str | None = None,
    y: str | None = None,
    z: str | None = None,
    *,
    models_folder: str | Path | None = None,
    describe_model: Callable[[str], ModelFacts] | None = None,
) -> GridPlan:
    """The cells of the plot `x`, `y`, `z` (each `name=values` or None) over `base`.

    `describe_model(path)`: a checkpoint's size multiple and modes (a header read); without it a model
    axis only checks that its files exist and sizes are checked against 8. Raises InputError."""
    facts_of = _cached(describe_model or (lambda path: ModelFacts()))
    folder = Path(models_folder).expanduser() if models_folder else None
    ctx = AxisContext(base, folder, facts_of)
    if base.batch_size != 1:
        raise InputError(
            f"a grid makes one image per cell: set the batch size to 1 (it is {base.batch_size})"
        )
    texts = [(letter, t) for letter, t in zip(LETTERS, (x, y, z), strict=True) if t and t.strip()]
    if not texts:
        raise InputError('a grid needs at least one axis, e.g. --x "cfg=3,5,7"')
    axes: list[Axis | None] = [
        read_axis(t, letter, ctx) if t and t.strip() else None
        for letter, t in zip(LETTERS, (x, y, z), strict=True)
    ]
    seen: dict[str, str] = {}
    for letter, axis in zip(LETTERS, axes, strict=True):
        if axis is None or axis.name == "prompt_sr":
            continue  # two S/R axes replace two different texts
        if axis.name in seen:
            raise InputError(
                f"{seen[axis.name]} and {letter} axes both vary {axis.name}: vary it on one axis"
            )
        seen[axis.name] = letter
    shape = [len(a.values) if a else 1 for a in axes]
    if math.prod(shape) > MAX_CELLS:
        raise InputError(
            f"the grid has {math.prod(shape)} cells ({'x'.join(map(str, shape))}): at most {MAX_CELLS}"
        )
    cells = []
    for zi in range(shape[2]):
        for yi in range(shape[1]):
            for xi in range(shape[0]):
                request, labels = base, []
                for axis, i in zip(axes, (xi, yi, zi), strict=True):
                    if axis is not None:
                        request = axis.kind.apply(request, axis.values[i], axis.param)
                    labels.append(axis.header(i) if axis is not None else "")
                cell = GridCell(len(cells), xi, yi, zi, tuple(labels), request)  # type: ignore[arg-type]
                _check_cell(cell, axes, facts_of)
                cells.append(cell)
    return GridPlan(base, tuple(axes), tuple(cells))  # type: ignore[arg-type]


def _check_cell(cell: GridCell, axes: list[Axis | None], facts_of: Callable[[str], ModelFacts]) -> None:
    request = cell.request
    # backslashreplace: a label holding a lone surrogate (an undecodable argument) can still be printed
    where = ", ".join(label for label in cell.labels if label).encode("utf-8", "backslashreplace").decode()
    if request.mode == "txt2img" and request.width > 0 and request.height > 0:
        multiple = facts_of(request.model).size_multiple
        for side in (request.width, request.height):
            if side % multiple:
                below, above = nearest_multiples(side, multiple)
                blame, name = _blame(cell, axes, ("size", "model"))
                size = f"{request.width}x{request.height}"
                model = Path(request.model).stem if request.model else "the bundled demo model"
                what = f"{blame} is" if name == "size" else f"{blame + ': ' if blame else ''}{size} is"
                raise InputError(
                    f"{what} not a multiple of {multiple}, which {model} needs "
                    f"(use {below} or {above} instead of {side})"
                )
    try:
        check_limits(request)
    except InputError as exc:
        raise InputError(f"grid cell {where}: {exc}") from None


def _blame(cell: GridCell, axes: list[Axis | None], names: tuple[str, ...]) -> tuple[str, str]:
    """("X axis size: '520x512'", "size") for the first axis of `names` the grid has, else ("", "")."""
    for name in names:
        for letter, axis, i in zip(LETTERS, axes, (cell.x, cell.y, cell.z), strict=True):
            if axis is not None and axis.name == name:
                return f"{letter} axis {name}: {axis.labels[i]!r}", name
    return "", ""


def _cached(function: Callable[[str], ModelFacts]) -> Callable[[str], ModelFacts]:
    memo: dict[str, ModelFacts] = {}

    def cached(path: str) -> ModelFacts:
        if path not in memo:
            try:
                memo[path] = function(path)
            except LdmError:
                raise
            except OSError as exc:
                raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
        return memo[path]

    return cached
