"""The procedural dataset: deterministic, captioned in the words users type, with a clean held-out split."""

import itertools

import numpy as np

from ldm_studio.training.dataset import (
    COLOURS,
    HELD_OUT_TRIPLES,
    POSITIONS,
    SHAPES,
    TRAIN_TRIPLES,
    caption,
    held_out_scenes,
    make_examples,
    random_scene,
    render_scene,
)


def test_the_same_seed_gives_the_same_images_and_captions():
    images_a, captions_a = make_examples(16, seed=3)
    images_b, captions_b = make_examples(16, seed=3)
    images_c, captions_c = make_examples(16, seed=4)
    assert np.array_equal(images_a, images_b) and captions_a == captions_b
    assert not np.array_equal(images_a, images_c) and captions_a != captions_c


def test_images_are_128_pixel_rgb_with_antialiased_edges():
    images, _ = make_examples(4, seed=0)
    assert images.shape == (4, 128, 128, 3) and images.dtype == np.uint8
    # Two flat colours alone would give exactly two distinct pixels; soft edges add blends.
    assert all(len(np.unique(im.reshape(-1, 3), axis=0)) > 2 for im in images)


def test_captions_cover_the_vocabulary_in_varied_phrasing():
    _, captions = make_examples(400, seed=1)
    words = " ".join(captions)
    for word in (*SHAPES, *COLOURS, "background", "left", "right", "top", "bottom", "center"):
        assert f" {word}" in words, word
    assert len(set(captions)) > 300  # phrasing varies, not one template


def test_captions_describe_their_own_image():
    rng = np.random.default_rng(5)
    for _ in range(200):
        scene = random_scene(rng)
        assert scene.colour != scene.background
        text = caption(scene, rng)
        assert f"{scene.colour} {scene.shape}" in text
        if "background" in text:
            assert f"{scene.background} background" in text


def test_held_out_triples_never_appear_in_training():
    assert len(HELD_OUT_TRIPLES) >= 48
    assert not set(HELD_OUT_TRIPLES) & set(TRAIN_TRIPLES)
    rng = np.random.default_rng(0)
    seen = {random_scene(rng).triple for _ in range(3000)}
    assert seen == set(TRAIN_TRIPLES)
    # Each colour pair stays learnable: some shape of it is in training.
    pairs = {(c, b) for _, c, b in TRAIN_TRIPLES}
    assert pairs == {(c, b) for c, b in itertools.product(COLOURS, COLOURS) if c != b}


def test_held_out_scenes_use_every_held_out_triple_and_many_positions():
    scenes = held_out_scenes(per_triple=2, seed=0)
    assert {s.triple for s in scenes} == set(HELD_OUT_TRIPLES)
    assert len({s.position for s in scenes}) == len(POSITIONS)


def test_high_resolution_render_downsamples_to_the_low_resolution_one():
    # The upscaler learns 128 -> 512: both must show the same geometry.
    scene = held_out_scenes(seed=2)[0]
    big = render_scene(scene, 512).astype(np.float32)
    small = render_scene(scene, 128).astype(np.float32)
    reduced = big.reshape(128, 4, 128, 4, 3).mean((1, 3))
    assert np.abs(reduced - small).mean() < 1.0
