"""Read images and masks from files, write masks, with errors a user can read. Qt-free (PIL + numpy).

Every failure is an `ImageFileError` whose message names the file and says what was wrong; callers
show it and leave their state as it was.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_SIDE = 16384  # larger than any model works at; refuse before allocating gigabytes


class ImageFileError(Exception):
    """A file that is not an image, cannot be read, or cannot be written."""


def _open(path: str | os.PathLike[str]) -> Image.Image:
    name = Path(path).name
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
            if max(image.size) > MAX_SIDE:
                raise ImageFileError(
                    f"{name} is {image.width}×{image.height}; the largest side allowed is {MAX_SIDE}"
                )
            image.load()  # decode now: a truncated file fails here, not later in a paint event
            return ImageOps.exif_transpose(image)  # photos taken upright show upright
    except ImageFileError:
        raise
    except FileNotFoundError:
        raise ImageFileError(f"{name} does not exist") from None
    except IsADirectoryError:
        raise ImageFileError(f"{name} is a folder, not an image") from None
    except UnidentifiedImageError:
        raise ImageFileError(f"{name} is not an image file Pillow can read (PNG, JPEG, WebP, …)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageFileError(f"{name} is too large to open") from None
    except (OSError, ValueError, SyntaxError) as error:
        raise ImageFileError(f"{name} could not be read: {error}") from None


def read_image_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """The image as an (H, W, 3) uint8 array; transparency is dropped."""
    return np.asarray(_open(path).convert("RGB"), dtype=np.uint8).copy()


def read_mask(path: str | os.PathLike[str]) -> np.ndarray:
    """A mask as (H, W) uint8, 255 = repaint: white is masked; transparent pixels count as unmasked."""
    image = _open(path)
    if "A" in image.getbands() or "transparency" in image.info:
        rgba = image.convert("RGBA")
        luminance = np.asarray(rgba.convert("L"), dtype=np.uint16)
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.uint16)
        return ((luminance * alpha + 127) // 255).astype(np.uint8)  # over black
    return np.asarray(image.convert("L"), dtype=np.uint8).copy()


def read_mask_sized(path: str | os.PathLike[str], width: int, height: int) -> tuple[np.ndarray, str]:
    """A mask file scaled to width x height when it is another size, and a notice saying so ('' if not)."""
    mask = read_mask(path)
    if mask.shape == (height, width):
        return mask, ""
    name = os.path.basename(os.fspath(path))
    notice = f"{name} is {mask.shape[1]}×{mask.shape[0]}: scaled to the image's {width}×{height}"
    return resize_mask(mask, width, height), notice


def resize_mask(mask: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale a mask to width x height (bilinear when enlarging, area-averaged when shrinking)."""
    return np.asarray(
        Image.fromarray(mask).resize((width, height), Image.Resampling.BILINEAR, reducing_gap=2.0)
    )


def write_mask_png(path: str | os.PathLike[str], mask: np.ndarray, *, overwrite: bool = False) -> None:
    """Save the mask as a greyscale PNG, atomically: a failed save never leaves a half-written file."""
    target = Path(path)
    if target.exists() and not overwrite:
        raise ImageFileError(f"{target.name} already exists; choose another name")
    try:
        handle, temporary = tempfile.mkstemp(suffix=".png", prefix=".mask-", dir=target.parent)
    except OSError as error:
        raise ImageFileError(f"cannot write to {target.parent}: {error.strerror}") from None
    try:
        with os.fdopen(handle, "wb") as stream:
            Image.fromarray(np.ascontiguousarray(mask)).save(stream, format="PNG")
        os.replace(temporary, target)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise ImageFileError(f"cannot save {target.name}: {error.strerror or error}") from None
