"""Control images: the preprocessors that need no weights, the resize, the preview, and what is refused."""

import numpy as np
import pytest

from ldm_studio.engine.errors import InputError
from ldm_studio.engine.pipelines.control_images import control_image, control_preview
from ldm_studio.engine.requests import ControlNetUnit


def _square(size: int = 64) -> np.ndarray:
    image = np.full((size, size, 3), 30, np.uint8)
    image[16:48, 16:48] = 220
    return image


def _unit(module: str, pixels: np.ndarray | None = None) -> ControlNetUnit:
    return ControlNetUnit(file="x.safetensors", pixels=_square() if pixels is None else pixels, module=module)


def test_none_is_the_image_in_zero_one():
    control = control_image(_unit("none"), 64, 64)
    assert control.pixels.dtype == np.float32 and control.note == ""
    assert np.allclose(control.pixels, _square() / 255.0)


def test_canny_finds_the_square_outline_only():
    edges = control_image(_unit("canny"), 64, 64).pixels[..., 0]
    assert set(np.unique(edges)) <= {0.0, 1.0}
    outline = np.zeros((64, 64), bool)
    outline[13:51, 13:51] = True
    outline[19:45, 19:45] = False  # a ring of 3 px either side of the square's border
    assert edges[outline].sum() > 0.8 * 4 * 32 and edges[~outline].sum() == 0


def test_scribble_is_the_edges_thickened():
    thin = control_image(_unit("canny"), 64, 64).pixels
    thick = control_image(_unit("scribble"), 64, 64).pixels
    assert thick.sum() > 1.5 * thin.sum() and np.all(thick >= thin)


def test_tile_blurs():
    blurred = control_image(_unit("tile"), 64, 64).pixels
    assert blurred.shape == (64, 64, 3)
    assert np.abs(np.diff(blurred[..., 0], axis=1)).max() < 0.5 * (190 / 255)
    assert abs(blurred.mean() - _square().mean() / 255) < 0.02


def test_inpaint_sets_the_masked_pixels_to_minus_one():
    mask = np.zeros((32, 32), np.uint8)
    mask[:16] = 255  # resized to the image with nearest neighbours
    pixels = control_image(_unit("inpaint"), 64, 64, mask=mask).pixels
    assert np.all(pixels[:32] == -1.0) and np.all(pixels[32:] >= 0.0)
    with pytest.raises(InputError, match="inpaint preprocessor needs a mask"):
        control_image(_unit("inpaint"), 64, 64)


def test_a_control_image_of_another_size_is_resized_and_said():
    control = control_image(_unit("none", _square(40)), 64, 48, index=1)
    assert control.pixels.shape == (48, 64, 3)
    assert control.note == "ControlNet 1: control image 40x40 resized to 64x48"


def test_preview_is_uint8_at_the_model_size():
    preview = control_preview(_unit("canny", _square(32)), 64, 64)
    assert preview.dtype == np.uint8 and preview.shape == (64, 64, 3) and set(np.unique(preview)) <= {0, 255}


@pytest.mark.parametrize(("module", "file"), [
    ("depth", "dpt_hybrid-midas-501f0c75.pt"), ("lineart", "sk_model.pth"),
    ("openpose", "body_pose_model.pth"), ("normal", "scannet.pt"),
])  # fmt: skip
def test_network_preprocessors_say_which_annotator_is_missing(module, file):
    with pytest.raises(InputError) as caught:
        control_image(_unit(module), 64, 64)
    message = str(caught.value)
    assert file in message and "preprocessor none" in message and "\n" not in message
