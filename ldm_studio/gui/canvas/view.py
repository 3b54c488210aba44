"""Where the image sits in the canvas widget: zoom and offset, and the mapping both ways. Qt-free.

widget = offset + zoom * image. A widget pixel (px, py) is the square [px, px+1) x [py, py+1), so
the mouse at (px, py) means the image point under that pixel's centre: every zoom and pan keeps a
stroke landing exactly on the image pixels drawn under the cursor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

MIN_ZOOM = 1.0 / 32.0
MAX_ZOOM = 64.0


@dataclass(frozen=True)
class View:
    zoom: float = 1.0
    offset_x: float = 0.0  # widget position of the image's top-left corner
    offset_y: float = 0.0

    def to_image(self, x: float, y: float) -> tuple[float, float]:
        """The image point under widget point (x, y) (continuous coordinates)."""
        return ((x - self.offset_x) / self.zoom, (y - self.offset_y) / self.zoom)

    def mouse_to_image(self, x: float, y: float) -> tuple[float, float]:
        """The image point under the centre of the widget pixel the mouse reports."""
        return self.to_image(x + 0.5, y + 0.5)

    def to_widget(self, x: float, y: float) -> tuple[float, float]:
        return (self.offset_x + x * self.zoom, self.offset_y + y * self.zoom)

    def panned(self, dx: float, dy: float) -> View:
        return replace(self, offset_x=self.offset_x + dx, offset_y=self.offset_y + dy)

    def zoomed(self, zoom: float, anchor_x: float, anchor_y: float) -> View:
        """Zoom to `zoom` (clamped) keeping the image point at widget point `anchor` where it is."""
        zoom = min(max(zoom, MIN_ZOOM), MAX_ZOOM)
        image_x, image_y = self.to_image(anchor_x, anchor_y)
        return View(zoom, anchor_x - image_x * zoom, anchor_y - image_y * zoom)

    def image_rect_to_widget(
        self, rect: tuple[int, int, int, int], margin: int = 2
    ) -> tuple[int, int, int, int]:
        """Widget pixels (left, top, right, bottom) covering image rect, plus antialiasing margin."""
        left, top = self.to_widget(rect[0], rect[1])
        right, bottom = self.to_widget(rect[2], rect[3])
        return (
            math.floor(left) - margin,
            math.floor(top) - margin,
            math.ceil(right) + margin,
            math.ceil(bottom) + margin,
        )


def fitted(image_w: int, image_h: int, widget_w: int, widget_h: int, margin: int = 8) -> View:
    """The whole image centred in the widget, as large as fits: small images are enlarged too (from 2x
    the canvas draws hard pixel edges, so they stay crisp); Ctrl+1 shows actual pixels."""
    room_w, room_h = max(widget_w - 2 * margin, 1), max(widget_h - 2 * margin, 1)
    zoom = min(room_w / max(image_w, 1), room_h / max(image_h, 1))
    return centred(image_w, image_h, widget_w, widget_h, min(max(zoom, MIN_ZOOM), MAX_ZOOM))


def centred(image_w: int, image_h: int, widget_w: int, widget_h: int, zoom: float) -> View:
    # Whole-pixel offsets keep 100% crisp (no half-pixel resampling of every pixel).
    return View(zoom, round((widget_w - image_w * zoom) / 2), round((widget_h - image_h * zoom) / 2))
