"""Pixel helpers: files in, tensors round trip exactly, masks soften where they should and nowhere else."""

import numpy as np
import pytest
import torch
from PIL import Image

from ldm_studio.engine.errors import InputError
from ldm_studio.engine.image_files import load_image, load_mask
from ldm_studio.engine.pipelines.images import (
    blur_mask,
    composite,
    feather_mask,
    images_to_tensor,
    mask_bbox,
    mask_to_latent,
    mask_to_tensor,
    tensor_to_arrays,
    tensor_to_pil,
)


def _square_mask(size=48, lo=16, hi=32) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    mask[lo:hi, lo:hi] = 255
    return mask


def test_load_image_reads_rgb_and_flattens_transparency_onto_white(tmp_path):
    rgba = Image.new("RGBA", (6, 4), (10, 20, 30, 255))
    rgba.putpixel((0, 0), (0, 0, 0, 0))
    rgba.save(tmp_path / "a.png")
    array = load_image(tmp_path / "a.png")
    assert array.shape == (4, 6, 3) and array.dtype == np.uint8
    assert array[0, 0].tolist() == [255, 255, 255]
    assert array[2, 3].tolist() == [10, 20, 30]


def test_load_image_turns_phone_photos_upright(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    Image.new("RGB", (40, 20), (0, 128, 0)).save(tmp_path / "phone.jpg", exif=exif)
    assert load_image(tmp_path / "phone.jpg").shape == (40, 20, 3)


@pytest.mark.parametrize(
    ("name", "message"), [("notes.png", "not an image"), ("missing.png", "does not exist")]
)
def test_load_image_says_clearly_what_is_wrong(tmp_path, name, message):
    if name == "notes.png":
        (tmp_path / name).write_text("just text")
    with pytest.raises(InputError, match=message) as error:
        load_image(tmp_path / name)
    assert name in str(error.value)
    with pytest.raises(InputError, match="folder"):
        load_image(tmp_path)


def test_load_mask_reads_white_as_repaint_and_alpha_only_masks(tmp_path):
    Image.fromarray(_square_mask()).save(tmp_path / "m.png")
    assert (load_mask(tmp_path / "m.png") == _square_mask()).all()
    alpha_only = Image.new("RGBA", (48, 48), (0, 0, 0, 0))
    alpha_only.putalpha(Image.fromarray(_square_mask()))
    alpha_only.save(tmp_path / "alpha.png")
    assert (load_mask(tmp_path / "alpha.png") == _square_mask()).all()


def test_every_pixel_level_survives_the_tensor_round_trip():
    levels = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)
    tensor = images_to_tensor([levels, Image.fromarray(levels)])
    assert tensor.shape == (2, 3, 16, 16) and tensor.dtype == torch.float32
    assert tensor.min() == -1.0 and tensor.max() == 1.0
    assert (tensor_to_arrays(tensor)[1] == levels).all()
    assert np.asarray(tensor_to_pil(tensor)[0]).tolist() == levels.tolist()


def test_blur_softens_the_edge_on_both_sides_with_a_limited_reach():
    mask = mask_to_tensor(_square_mask())
    blurred = blur_mask(mask, 2.0)[0, 0]
    assert blurred.shape == (48, 48)
    assert 0.3 < blurred[24, 15] < 0.5 < blurred[24, 16] < 0.7  # both sides of the edge
    assert blurred[24, 24] == pytest.approx(1.0, abs=1e-6)
    reach = 5  # ceil(2.5 σ)
    assert blurred[24, 16 - reach - 1] == 0.0 and blurred[24, 16 - reach] > 0.0
    assert torch.equal(blur_mask(mask, 0), mask)


def test_blur_does_not_fade_a_mask_that_touches_the_image_border():
    mask = np.zeros((32, 32), np.uint8)
    mask[:, :12] = 255  # wider than the blur's reach (8 px): only the border itself is in question
    blurred = blur_mask(mask_to_tensor(mask), 3.0)[0, 0]
    assert blurred[:, 0].min() == pytest.approx(1.0, abs=1e-6)


def test_feather_stays_inside_the_painted_area():
    mask = mask_to_tensor(_square_mask(64, 8, 56))
    soft = feather_mask(mask, 2.0)[0, 0]
    outside = mask[0, 0] == 0
    assert (soft[outside] == 0).all()
    assert soft[32, 32] == pytest.approx(1.0, abs=1e-6)
    ramp = soft[32, 8:20].tolist()
    assert ramp == sorted(ramp) and 0 < ramp[0] < 0.1 and ramp[-1] == pytest.approx(1.0, abs=1e-6)


def test_mask_to_latent_nearest_and_area():
    mask = np.zeros((16, 16), np.uint8)
    mask[:, :8] = 255
    mask[:4, 8:] = 255
    tensor = mask_to_tensor(mask)
    assert mask_to_latent(tensor, 8).flatten().tolist() == [1.0, 1.0, 1.0, 0.0]
    assert mask_to_latent(tensor, 8, "area").flatten().tolist() == [1.0, 0.5, 1.0, 0.0]
    with pytest.raises(ValueError, match="nearest"):
        mask_to_latent(tensor, 8, "bicubic")


def test_mask_bbox_pads_snaps_to_8_and_stays_inside_the_image():
    assert mask_bbox(np.zeros((64, 64), np.uint8), 32) is None
    mask = np.zeros((100, 200), np.uint8)
    mask[40:45, 50:53] = 255
    left, top, right, bottom = mask_bbox(mask, 10)
    assert left <= 40 and top <= 30 and right >= 63 and bottom >= 55  # mask plus padding
    assert (right - left) % 8 == 0 and (bottom - top) % 8 == 0
    # Near a corner the box is shifted inward rather than cut.
    corner = np.zeros((100, 200), np.uint8)
    corner[95:, 195:] = 255
    box = mask_bbox(corner, 20)
    assert box[2] == 200 and box[3] == 100 and (box[2] - box[0]) % 8 == 0 and (box[3] - box[1]) % 8 == 0
    # A target aspect (width / height) widens the short side.
    left, top, right, bottom = mask_bbox(mask, 0, aspect=2.0)
    assert (right - left) == 2 * (bottom - top)


def test_composite_leaves_unmasked_pixels_bit_identical():
    rng = np.random.default_rng(0)
    original = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    generated = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    soft = feather_mask(mask_to_tensor(_square_mask(64, 16, 48)), 2.0)[0, 0].numpy()
    result = composite(original, generated, soft)
    assert result.dtype == np.uint8
    assert np.array_equal(result[soft == 0], original[soft == 0])
    assert np.array_equal(result[soft == 1], generated[soft == 1])
    assert np.array_equal(composite(original, generated, _square_mask(64, 16, 48))[:16], original[:16])
    half = composite(np.zeros((1, 1, 3), np.uint8), np.full((1, 1, 3), 200, np.uint8), np.full((1, 1), 0.5))
    assert half.tolist() == [[[100, 100, 100]]]
    with pytest.raises(ValueError, match="mask size"):
        composite(original, generated, np.zeros((8, 8)))
