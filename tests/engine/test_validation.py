"""Bad requests are refused up front with a message that says what to change."""

import numpy as np
import pytest

from ldm_studio.engine.errors import InputError
from ldm_studio.engine.requests import GenerationRequest
from ldm_studio.engine.validation import validate_request

SD_MODES = ("txt2img", "img2img", "inpaint")


def _check(request: GenerationRequest, modes=SD_MODES, multiple=8) -> None:
    validate_request(request, modes=modes, size_multiple=multiple, family_label="Stable Diffusion 1.x")


def _image(w=64, h=48) -> np.ndarray:
    return np.zeros((h, w, 3), np.uint8)


def test_a_valid_txt2img_request_passes():
    _check(GenerationRequest(width=512, height=768))


def test_a_size_off_the_grid_names_the_nearest_valid_sizes():
    with pytest.raises(InputError, match=r"width 500 is not a multiple of 8.*496 or 504"):
        _check(GenerationRequest(width=500, height=512))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"steps": 0}, "steps must be at least 1"),
        ({"strength": 1.5}, "strength must be between 0 and 1"),
        ({"strength": -0.1}, "strength must be between 0 and 1"),
        ({"sampler": "lms"}, "unknown sampler 'lms'"),
        ({"batch_size": 0}, "batch size"),
    ],
)
def test_out_of_range_parameters_are_refused(change, message):
    with pytest.raises(InputError, match=message):
        _check(GenerationRequest(**change))


def test_a_mode_the_model_cannot_do_is_named():
    with pytest.raises(InputError, match="cannot do upscale: it can do txt2img, img2img, inpaint"):
        _check(GenerationRequest(mode="upscale", init_image=_image()))


def test_a_mask_of_another_size_says_both_sizes():
    mask = np.full((40, 64), 255, np.uint8)
    request = GenerationRequest(mode="inpaint", init_image=_image(64, 48), mask=mask)
    with pytest.raises(InputError, match="mask is 64x40 but the image is 64x48"):
        _check(request)


def test_an_empty_mask_is_refused():
    request = GenerationRequest(mode="inpaint", init_image=_image(), mask=np.zeros((48, 64), np.uint8))
    with pytest.raises(InputError, match="mask is empty"):
        _check(request)


def test_img2img_without_an_image_is_refused():
    with pytest.raises(InputError, match="needs an input image"):
        _check(GenerationRequest(mode="img2img"))


def test_upscale_noise_level_is_bounded():
    request = GenerationRequest(mode="upscale", init_image=_image(), noise_level=400)
    with pytest.raises(InputError, match="noise level"):
        _check(request, modes=("upscale",))
