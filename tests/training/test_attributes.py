"""The attribute checker reads the dataset's own ground truth back, and notices when it is wrong."""

import numpy as np

from ldm_studio.training.attributes import read_attributes
from ldm_studio.training.dataset import Scene, held_out_scenes, random_scene, render_scene


def _scenes() -> list[Scene]:
    rng = np.random.default_rng(11)
    return [random_scene(rng) for _ in range(150)] + held_out_scenes(per_triple=1, seed=3)


def test_reads_background_colour_shape_and_position_of_ground_truth_images():
    for scene in _scenes():
        found = read_attributes(render_scene(scene))
        assert (found.background, found.colour, found.shape, found.position) == (
            scene.background,
            scene.colour,
            scene.shape,
            scene.position,
        ), scene


def test_still_reads_noisy_images_like_a_sampler_makes():
    rng = np.random.default_rng(0)
    scenes = _scenes()[:60]
    for scene in scenes:
        noisy = render_scene(scene).astype(np.float32) + rng.normal(0, 12, (128, 128, 3))
        found = read_attributes(np.clip(noisy, 0, 255).astype(np.uint8))
        assert (found.background, found.colour, found.shape) == (scene.background, scene.colour, scene.shape)


def test_tells_apart_what_differs():
    red_circle = render_scene(Scene("circle", "red", "blue", "center", "large"))
    blue_circle = render_scene(Scene("circle", "blue", "red", "center", "large"))
    triangle = render_scene(Scene("triangle", "red", "blue", "center", "large"))
    assert read_attributes(red_circle).colour == "red"
    assert read_attributes(blue_circle).background == "red"
    assert read_attributes(triangle).shape == "triangle"
    assert read_attributes(red_circle).shape == "circle"


def test_a_plain_image_has_no_object():
    plain = np.full((128, 128, 3), (40, 170, 60), np.uint8)
    found = read_attributes(plain)
    assert found.background == "green" and found.colour is None and found.shape is None
