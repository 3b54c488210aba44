"""Outpainting a big picture at the model's own resolution: the new area worked in tiles.

"Only masked area" works on one crop around the mask, scaled to the model's native size. Extending a
3000-px photo by 256 px on one side masks a 288 × 3000 strip, whose one crop (widened to the model's
aspect) would be scaled down six-fold. So an outpaint request whose crop would not fit the native size
is split: windows small enough that their crop (with the padding) fits, visited in reading order, each
an ordinary only-masked inpaint of the canvas as the previous windows left it. A window's mask is the
outpaint mask there, ramped up over a band along the sides it shares with earlier windows, so each
window repaints the seam softly over what was painted before. The windows run as soft inpainting
(Differential Diffusion, soft_inpainting.py): the ramp is a strength, so a window continues what the
earlier ones painted instead of cross-fading two different paintings (which showed as ghosted
objects). Torch-free: it drives `run` per window.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from ldm_studio.engine.pipelines.images import mask_bbox
from ldm_studio.engine.requests import Cancelled, Event, GenerationRequest, Preview, Progress, Result

_SEED_STRIDE = 7919  # window k of an image draws its noise from seed + k · stride: no repeated noise


@dataclass(frozen=True)
class Tiles:
    masks: list[np.ndarray]  # one uint8 mask per window, the canvas's size, in the order they run
    padding: int  # the context padding each window's crop uses


def _starts(lo: int, hi: int, tile: int, stride: int) -> list[int]:
    """Window starts covering [lo, hi) with windows of `tile` px, `stride` apart (the last flush with hi)."""
    if hi - lo <= tile:
        return [lo]
    starts = list(range(lo, hi - tile, stride))
    return [*starts, hi - tile]


def _ramp(length: int, band: int, rising: bool) -> np.ndarray:
    """1 over the window, rising from 0 over its first `band` px when it overlaps an earlier window."""
    weight = np.ones(length, dtype=np.float32)
    if rising and band > 0:
        weight[: min(band, length)] = (np.arange(min(band, length)) + 1) / (band + 1)
    return weight


def plan_tiles(request: GenerationRequest, native: tuple[int, int]) -> Tiles | None:
    """The windows for an outpaint request whose one only-masked crop would not fit `native`, else None."""
    if request.mode != "inpaint" or not request.outpaint or not request.inpaint_only_masked:
        return None
    mask = request.mask
    box = mask_bbox(mask, request.inpaint_padding, multiple=8, aspect=native[0] / native[1])
    if box is None or (box[2] - box[0] <= native[0] + 8 and box[3] - box[1] <= native[1] + 8):
        return None
    # Windows whose crop (window + padding on each side, on the 8-px grid) fits the native size.
    padding = min(request.inpaint_padding, min(native) // 4)
    tile_w, tile_h = ((n - 2 * padding) // 8 * 8 for n in native)
    band_x, band_y = tile_w // 4, tile_h // 4
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    masks = []
    for i, y in enumerate(_starts(top, bottom, tile_h, tile_h - band_y)):
        for j, x in enumerate(_starts(left, right, tile_w, tile_w - band_x)):
            h, w = min(tile_h, mask.shape[0] - y), min(tile_w, mask.shape[1] - x)
            weight = np.outer(_ramp(h, band_y, i > 0), _ramp(w, band_x, j > 0))
            window = np.zeros_like(mask)
            window[y : y + h, x : x + w] = np.round(mask[y : y + h, x : x + w] * weight).astype(np.uint8)
            if window.any():
                masks.append(window)
    return Tiles(masks, padding)


def run_tiles(
    request: GenerationRequest, tiles: Tiles, run_one: Callable[[GenerationRequest], Iterator[Event]]
) -> Iterator[Event]:
    """Each batch item's windows in turn through `run_one` (the pipeline's `run`); events count them all.

    Item b has seed + b; its window k draws noise from that seed + k · stride. The Result names the
    item's seed, as it would without tiles."""
    count = len(tiles.masks)
    images, infotexts, seeds, notes = [], [], [], []
    for item in range(request.batch_size):
        seed = (request.seed + item) % 2**64
        canvas = request.init_image
        for k, mask in enumerate(tiles.masks):
            window_seed = (seed + k * _SEED_STRIDE) % 2**64
            window = request.replace(
                init_image=canvas,
                mask=mask,
                batch_size=1,
                seed=window_seed,
                inpaint_padding=tiles.padding,
                soft_inpainting=True,
            )
            events = run_one(window)
            offset, result = (item * count + k), None
            for event in events:
                if isinstance(event, Result):
                    result = event
                    continue
                yield _renumbered(event, offset, request.batch_size * count)
                if isinstance(event, Cancelled):
                    return
            canvas = np.array(result.images[0].convert("RGB"))
        images.append(result.images[0])
        infotexts.append(_as_requested(result.infotexts[0], request, window_seed, seed, tiles))
        seeds.append(seed)
        notes.extend(note for note in result.notes if note not in notes)
    yield Result(images, infotexts, seeds, notes)


def _renumbered(event: Event, offset: int, runs: int) -> Event:
    """A window's Progress / Preview / Cancelled as steps of the whole job (`runs` windows of n steps)."""
    n = event.total
    if isinstance(event, Progress):
        return Progress(offset * n + event.step, runs * n)
    if isinstance(event, Preview):
        return Preview(offset * n + event.step, runs * n, event.image, event.box)
    return Cancelled(offset * n + event.step, runs * n)


def _as_requested(
    infotext: str, request: GenerationRequest, window_seed: int, seed: int, tiles: Tiles
) -> str:
    """The last window's infotext naming the item's own seed and what the request asked for (its
    padding; soft inpainting only when the user chose it)."""
    text = infotext.replace(f"Seed: {window_seed},", f"Seed: {seed},", 1)
    padding = request.inpaint_padding
    text = text.replace(f"Masked area padding: {tiles.padding},", f"Masked area padding: {padding},", 1)
    return text if request.soft_inpainting else text.replace(" Soft inpainting enabled: True,", "", 1)
