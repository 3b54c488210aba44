"""Pixel helpers the pipelines share: image files and arrays in and out of [-1, 1] tensors, and masks.

Conventions: images are numpy uint8 (H, W, 3) or PIL; model tensors are float NCHW in [-1, 1]; masks
are uint8 (H, W) with 255 = repaint, or float tensors [N, 1, H, W] in [0, 1] once inside the engine.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

Box = tuple[int, int, int, int]  # (left, top, right, bottom), right/bottom exclusive
Device = torch.device | str | None


def to_array(image: Image.Image | np.ndarray) -> np.ndarray:
    """A PIL image or array as uint8 (H, W, 3)."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"), dtype=np.uint8)
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"expected a uint8 (H, W, 3) image, got {array.dtype} {array.shape}")
    return array


def images_to_tensor(
    images: Image.Image | np.ndarray | list, device: Device = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """One image or a list (PIL or uint8 (H, W, 3)) as a [N, 3, H, W] tensor in [-1, 1]."""
    items = images if isinstance(images, list) else [images]
    batch = np.stack([to_array(item) for item in items])
    tensor = torch.from_numpy(batch).to(device=device).permute(0, 3, 1, 2)
    return tensor.to(dtype) / 127.5 - 1.0


def tensor_to_arrays(images: torch.Tensor) -> np.ndarray:
    """A [N, 3, H, W] tensor in [-1, 1] as uint8 (N, H, W, 3), rounded to the nearest level."""
    scaled = ((images.detach().float().clamp(-1.0, 1.0) + 1.0) * 127.5).round()
    return scaled.to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def tensor_to_pil(images: torch.Tensor) -> list[Image.Image]:
    return [Image.fromarray(array) for array in tensor_to_arrays(images)]


def mask_to_tensor(
    mask: np.ndarray, device: Device = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """A uint8 (H, W) mask (255 = repaint) as [1, 1, H, W] in [0, 1]."""
    array = np.asarray(mask)
    if array.ndim != 2:
        raise ValueError(f"expected a (H, W) mask, got shape {array.shape}")
    return torch.from_numpy(array.astype(np.float32) / 255.0)[None, None].to(device=device, dtype=dtype)


def _gaussian_kernel(sigma: float, device: Device, dtype: torch.dtype) -> torch.Tensor:
    # Cut at 2.5 σ like A1111's mask blur, so the blur has a hard reach: beyond it, exactly 0.
    radius = max(1, math.ceil(2.5 * sigma))
    x = torch.arange(-radius, radius + 1, device=device, dtype=torch.float64)
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    return (kernel / kernel.sum()).to(dtype)


def blur_mask(mask: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of a [N, 1, H, W] mask (two 1-D passes); softens the edge on both sides."""
    if sigma <= 0:
        return mask
    kernel = _gaussian_kernel(sigma, mask.device, mask.dtype)
    radius = kernel.numel() // 2
    # Edge pixels are repeated, so a mask touching the border is not faded there.
    horizontal = F.pad(mask, (radius, radius, 0, 0), mode="replicate")
    blurred = F.conv2d(horizontal, kernel.view(1, 1, 1, -1))
    vertical = F.pad(blurred, (0, 0, radius, radius), mode="replicate")
    return F.conv2d(vertical, kernel.view(1, 1, -1, 1)).clamp(0.0, 1.0)


def feather_mask(mask: torch.Tensor, sigma: float) -> torch.Tensor:
    """A soft edge that stays inside the painted area: exactly 0 wherever `mask` is 0.

    The mask is shrunk by the blur's reach (2.5 σ) before blurring, so a composite with it leaves every
    unpainted pixel untouched. The price: strokes thinner than about 5 σ come out faint. `blur_mask` is
    the A1111 behaviour (the soft edge reaches 2.5 σ outside the painted area).
    """
    if sigma <= 0:
        return mask
    radius = _gaussian_kernel(sigma, mask.device, mask.dtype).numel() // 2
    # Shrinking = a min filter = -maxpool(-x); replicate padding so the image border does not shrink it.
    padded = F.pad(-mask, (radius, radius, radius, radius), mode="replicate")
    shrunk = -F.max_pool2d(padded, kernel_size=2 * radius + 1, stride=1)
    return blur_mask(shrunk, sigma) * (mask > 0)


def mask_to_latent(mask: torch.Tensor, factor: int, mode: str = "nearest") -> torch.Tensor:
    """A [N, 1, H, W] mask at latent size [N, 1, H/f, W/f]: "nearest" (like diffusers) or "area" (mean)."""
    if mode == "nearest":
        return F.interpolate(mask, size=(mask.shape[-2] // factor, mask.shape[-1] // factor), mode="nearest")
    if mode == "area":
        return F.avg_pool2d(mask, factor)
    raise ValueError(f"mode must be 'nearest' or 'area', not {mode!r}")


def _grow(lo: int, hi: int, length: int, limit: int) -> tuple[int, int]:
    """Widen [lo, hi) to `length` around its centre, shifted to stay inside [0, limit]."""
    length = min(length, limit)
    extra = length - (hi - lo)
    lo -= extra // 2
    lo = min(max(lo, 0), limit - length)
    return lo, lo + length


def mask_bbox(
    mask: np.ndarray, padding: int = 0, *, multiple: int = 8, aspect: float | None = None
) -> Box | None:
    """The region to work on for "only masked area" inpainting, or None for an empty mask.

    The mask's bounding box plus `padding`, widened to the target `aspect` (width / height) if given,
    with sides rounded up to a multiple of `multiple`, all kept inside the image.
    """
    array = np.asarray(mask)
    rows, cols = np.nonzero(array.any(axis=1))[0], np.nonzero(array.any(axis=0))[0]
    if rows.size == 0:
        return None
    height, width = array.shape[:2]
    left, right = max(int(cols[0]) - padding, 0), min(int(cols[-1]) + 1 + padding, width)
    top, bottom = max(int(rows[0]) - padding, 0), min(int(rows[-1]) + 1 + padding, height)
    box_w, box_h = right - left, bottom - top
    if aspect:
        box_w, box_h = max(box_w, round(box_h * aspect)), max(box_h, round(box_w / aspect))
    box_w, box_h = math.ceil(box_w / multiple) * multiple, math.ceil(box_h / multiple) * multiple
    left, right = _grow(left, right, box_w, width)
    top, bottom = _grow(top, bottom, box_h, height)
    return left, top, right, bottom


def composite(original: np.ndarray, generated: np.ndarray, soft_mask: np.ndarray) -> np.ndarray:
    """Blend `generated` over `original` by `soft_mask` (H, W); where the mask is 0, pixels are untouched.

    `soft_mask` is float in [0, 1] or uint8 in [0, 255]. Where it is 0 the original bytes are copied,
    not recomputed, so the unpainted area is bit-identical to the input.
    """
    original, generated = to_array(original), to_array(generated)
    if original.shape != generated.shape:
        raise ValueError(f"image sizes differ: {original.shape} and {generated.shape}")
    weight = np.asarray(soft_mask)
    weight = weight.astype(np.float32) / 255.0 if weight.dtype == np.uint8 else weight.astype(np.float32)
    if weight.shape != original.shape[:2]:
        raise ValueError(f"mask size {weight.shape} differs from image size {original.shape[:2]}")
    weight = np.clip(weight, 0.0, 1.0)[..., None]
    blended = original * (1.0 - weight) + generated * weight
    result = np.rint(blended).astype(np.uint8)
    return np.where(weight > 0, result, original)
