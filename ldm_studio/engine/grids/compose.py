"""The labelled grid image of an X/Y/Z plot, drawn with PIL.

Layout: X values label the columns along the top, Y values the rows down the left. With a Z axis the
grids (one per Z value) stand side by side in the same image, each under a header naming its Z value,
with a gap between them. Every slot is as large as the largest cell; a smaller cell (a size axis) sits
centred in its slot, and a cell with no image (cancelled, failed) stays grey. Long labels wrap.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

from ldm_studio.engine.grids.plan import GridPlan

BACKGROUND = (255, 255, 255)
TEXT = (0, 0, 0)
EMPTY = (128, 128, 128)


@dataclass(frozen=True)
class GridLayout:
    """Where everything goes in the grid image (pixels)."""

    columns: int
    rows: int
    grids: int
    cell_width: int
    cell_height: int
    left: int  # width of the Y labels' strip (0 without a Y axis)
    top: int  # height of the X labels' strip (0 without an X axis)
    header: int  # height of the Z header above each grid (0 without a Z axis)
    gap: int  # between two Z grids

    @property
    def grid_width(self) -> int:
        return self.left + self.columns * self.cell_width

    @property
    def size(self) -> tuple[int, int]:
        width = self.grids * self.grid_width + (self.grids - 1) * self.gap
        return width, self.header + self.top + self.rows * self.cell_height

    def origin(self, z: int) -> tuple[int, int]:
        """Top-left corner of grid `z` (its Z header included)."""
        return z * (self.grid_width + self.gap), 0

    def box(self, x: int, y: int, z: int = 0) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) of a cell's slot."""
        ox, oy = self.origin(z)
        left = ox + self.left + x * self.cell_width
        top = oy + self.header + self.top + y * self.cell_height
        return left, top, left + self.cell_width, top + self.cell_height


def cell_size(plan: GridPlan) -> tuple[int, int]:
    """The slot size: the largest cell (a txt2img request's own size; the input's otherwise)."""
    sizes = []
    for cell in plan.cells:
        request = cell.request
        if request.init_image is not None and request.mode != "txt2img":
            sizes.append((request.init_image.shape[1], request.init_image.shape[0]))
        else:
            sizes.append((request.width, request.height))
    return max(w for w, _ in sizes), max(h for _, h in sizes)


def _font(cell_height: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    size = max(11, min(48, cell_height // 10))
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _wrap(text: str, font, width: int) -> list[str]:
    """`text` in lines no wider than `width` where spaces allow (a long word stays whole)."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if line and font.getlength(candidate) > width:
                lines.append(line)
                line = word
            else:
                line = candidate
        lines.append(line)
    return lines


def _line_height(font) -> int:
    _, top, _, bottom = font.getbbox("Ag")
    return bottom - top + 4


def _text_block(lines: list[str], font) -> tuple[int, int]:
    width = max((int(font.getlength(line)) for line in lines), default=0)
    return width, len(lines) * _line_height(font)


def layout_for(plan: GridPlan, cell: tuple[int, int] | None = None) -> GridLayout:
    nx, ny, nz = plan.shape
    cw, ch = cell or cell_size(plan)
    font = _font(ch)
    pad = _line_height(font) // 2
    x_axis, y_axis, z_axis = plan.axes
    top = left = header = 0
    if x_axis is not None:
        top = max(_text_block(_wrap(x_axis.header(i), font, cw - pad), font)[1] for i in range(nx)) + 2 * pad
    if y_axis is not None:
        strip = max(cw, 12 * _line_height(font))  # where Y labels wrap
        left = max(_text_block(_wrap(y_axis.header(i), font, strip), font)[0] for i in range(ny)) + 2 * pad
    if z_axis is not None:
        width = (left + nx * cw) - 2 * pad
        header = max(_text_block(_wrap(z_axis.header(i), font, width), font)[1] for i in range(nz)) + 2 * pad
    gap = 2 * pad if nz > 1 else 0
    return GridLayout(nx, ny, nz, cw, ch, left, top, header, gap)


def compose_grid(plan: GridPlan, images: dict[int, Image.Image | None]) -> tuple[Image.Image, GridLayout]:
    """The grid image from `images` ({cell index: image}; missing or None = a grey slot) and its layout."""
    layout = layout_for(plan)
    canvas = Image.new("RGB", layout.size, BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    font = _font(layout.cell_height)
    pad = _line_height(font) // 2
    x_axis, y_axis, z_axis = plan.axes
    for cell in plan.cells:
        left, top, right, bottom = layout.box(cell.x, cell.y, cell.z)
        image = images.get(cell.index)
        if image is None:
            draw.rectangle((left, top, right - 1, bottom - 1), fill=EMPTY)
            continue
        ox = left + (layout.cell_width - image.width) // 2
        oy = top + (layout.cell_height - image.height) // 2
        canvas.paste(image.convert("RGB"), (ox, oy))
    for z in range(layout.grids):
        gx, gy = layout.origin(z)
        if z_axis is not None:
            _draw_centred(
                draw, z_axis.header(z), font, (gx, gy, gx + layout.grid_width, gy + layout.header), pad
            )
        if x_axis is not None:
            for x in range(layout.columns):
                left, top, right, _ = layout.box(x, 0, z)
                _draw_centred(draw, x_axis.header(x), font, (left, top - layout.top, right, top), pad)
        if y_axis is not None:
            for y in range(layout.rows):
                left, top, _, bottom = layout.box(0, y, z)
                _draw_centred(draw, y_axis.header(y), font, (left - layout.left, top, left, bottom), pad)
    return canvas, layout


def _draw_centred(
    draw: ImageDraw.ImageDraw, text: str, font, box: tuple[int, int, int, int], pad: int
) -> None:
    left, top, right, bottom = box
    lines = _wrap(text, font, max(1, right - left - 2 * pad))
    line_height = _line_height(font)
    y = top + max(0, (bottom - top - len(lines) * line_height) // 2)
    for line in lines:
        width = font.getlength(line)
        draw.text((left + max(pad, (right - left - width) / 2), y), line, fill=TEXT, font=font)
        y += line_height


def grid_infotext(base_infotext: str, plan: GridPlan) -> str:
    """The base parameters with the axes appended (`X/Y/Z plot: "X: cfg=3,5,7; Y: …"`), as the grid
    image's own metadata."""
    return f"{base_infotext}, X/Y/Z plot: {json.dumps(plan.describe(), ensure_ascii=False)}"
