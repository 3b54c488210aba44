"""Read images and masks from files, write masks, with errors a user can read: the one reader of the CLI
and the GUI, so the same file gives the same input to both. Torch-free and Qt-free (PIL + numpy).

Alpha, one rule: an image's transparent pixels are flattened onto white (what a viewer shows on a
light page); a mask's transparent pixels are never masked (luminance over black), and a mask that is
one colour throughout is read from its alpha alone (a layer painted in one colour, or an alpha-only file).

Every failure is an `ImageFileError` (an InputError) whose message names the file and says what was
wrong; callers show it and leave their state as it was.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ldm_studio.engine.errors import InputError

MAX_SIDE = 16384  # larger than any model works at; refuse before allocating gigabytes


class ImageFileError(InputError):
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
            return _eight_bit(ImageOps.exif_transpose(image))  # photos taken upright show upright
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


def _eight_bit(image: Image.Image) -> Image.Image:
    """Greyscale of more than 8 bits as 8-bit "L", scaled by its real range (Pillow's own convert clips
    16-bit values to white and makes a 0-1 float TIFF black).

    16-bit files ("I;16*"): 0-65535 → 0-255. 32-bit integers ("I", how Pillow may open a 16-bit PNG):
    the 16-bit range when the values fit it, else their own min-max. Floats ("F", TIFF): 0-1 → 0-255 when
    they lie in it, else their own min-max; NaN counts as 0."""
    if image.mode not in ("I", "F") and not image.mode.startswith("I;16"):
        return image
    values = np.asarray(image, dtype=np.float64)
    values = np.where(np.isfinite(values), values, 0.0)
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if image.mode.startswith("I;16") or (image.mode == "I" and low >= 0 and high <= 65535):
        low, high = 0.0, 65535.0
    elif image.mode == "F" and low >= 0 and high <= 1:
        low, high = 0.0, 1.0
    scale = 255.0 / (high - low) if high > low else 0.0
    return Image.fromarray(np.clip(np.rint((values - low) * scale), 0, 255).astype(np.uint8))


def _has_alpha(image: Image.Image) -> bool:
    return "A" in image.getbands() or "transparency" in image.info


def load_image(path: str | os.PathLike[str]) -> np.ndarray:
    """The image as an (H, W, 3) uint8 array; transparent parts are flattened onto white."""
    return image_array(_open(path))


def image_array(image: Image.Image) -> np.ndarray:
    """An opened image (a file's, or the clipboard's) as load_image reads it: (H, W, 3) uint8."""
    image = _eight_bit(image)
    if _has_alpha(image):
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def load_mask(path: str | os.PathLike[str]) -> np.ndarray:
    """A mask as (H, W) uint8, 255 = repaint: white is masked; transparent pixels count as unmasked."""
    return mask_array(_open(path))


def mask_array(image: Image.Image) -> np.ndarray:
    """An opened image (a file's, or the clipboard's) as load_mask reads it: (H, W) uint8."""
    image = _eight_bit(image)
    if not _has_alpha(image):
        return np.asarray(image.convert("L"), dtype=np.uint8).copy()
    rgba = image.convert("RGBA")
    alpha = np.asarray(rgba.getchannel("A"), dtype=np.uint16)
    luminance = np.asarray(rgba.convert("L"), dtype=np.uint16)
    if luminance.min() == luminance.max():  # one colour throughout: the alpha is the mask
        return alpha.astype(np.uint8)
    return ((luminance * alpha + 127) // 255).astype(np.uint8)  # over black


def load_mask_sized(path: str | os.PathLike[str], width: int, height: int) -> tuple[np.ndarray, str]:
    """A mask file scaled to width x height when it is another size, and a notice saying so ('' if not)."""
    mask = load_mask(path)
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
