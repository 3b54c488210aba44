"""The family table and the "ldm_studio_config" format: what each kind of model offers the user."""

import dataclasses
import json

import pytest

from ldm_studio.engine.checkpoints.families import (
    KNOWN_FAMILIES,
    apply_config,
    family_to_json,
    with_prediction,
)
from ldm_studio.engine.requests import MODES
from tests.checkpoints import TINY_DEMO, tiny_family


def test_every_family_offers_only_modes_the_app_has_and_the_right_ones():
    for family in KNOWN_FAMILIES.values():
        assert family.modes and set(family.modes) <= set(MODES), family.name
    for name in ("sd1", "sd1-inpaint", "sd2", "sd2-v", "sd2-inpaint"):
        assert set(KNOWN_FAMILIES[name].modes) == {"txt2img", "img2img", "inpaint"}
    assert KNOWN_FAMILIES["sd-x4-upscaler"].modes == ("upscale",)
    assert KNOWN_FAMILIES["ldm-bsr"].modes == ("upscale",)
    assert KNOWN_FAMILIES["ldm-inpaint"].modes == ("inpaint",)


def test_the_table_holds_the_released_model_sizes_and_schedules():
    sd1, sd2v, x4 = KNOWN_FAMILIES["sd1"], KNOWN_FAMILIES["sd2-v"], KNOWN_FAMILIES["sd-x4-upscaler"]
    assert (sd1.unet.model_channels, sd1.unet.context_dim, sd1.text.hidden_size) == (320, 768, 768)
    assert (sd2v.unet.num_head_channels, sd2v.text.layer, sd2v.text.pad_token_id) == (64, "penultimate", 0)
    assert (sd2v.prediction, sd2v.default_size) == ("v", (768, 768))
    assert (x4.prediction, x4.vae.downscale, x4.vae.scale_factor) == ("v", 4, 0.08333)
    assert (x4.linear_start, x4.linear_end) == (0.0001, 0.02)
    assert KNOWN_FAMILIES["ldm-bsr"].vae.kind == "vq" and KNOWN_FAMILIES["ldm-bsr"].text is None


def test_sd2_switches_between_its_eps_and_v_entries_with_the_prediction():
    tiny = tiny_family("sd2")
    as_v = with_prediction(tiny, "v")
    assert (as_v.name, as_v.prediction, as_v.default_size) == ("sd2-v", "v", (768, 768))
    assert as_v.unet == tiny.unet  # the file's own widths stay
    assert with_prediction(as_v, "eps").name == "sd2"
    assert with_prediction(tiny_family("sd1"), "v").name == "sd1"  # other families just change prediction
    assert with_prediction(tiny_family("sd1"), "x0").prediction == "x0"
    with pytest.raises(ValueError, match="eps, v, x0"):
        with_prediction(tiny, "sample")


def test_a_family_written_as_json_reads_back_identically():
    base = tiny_family("sd1")
    assert apply_config(base, json.loads(family_to_json(TINY_DEMO))) == TINY_DEMO
    x4 = tiny_family("sd-x4-upscaler")
    assert apply_config(base, json.loads(family_to_json(x4))) == x4


def test_a_config_naming_a_known_family_takes_its_rules_but_keeps_the_files_widths():
    tiny_sd2 = tiny_family("sd2")
    renamed = apply_config(tiny_sd2, {"family": "sd2-v"})
    assert renamed.prediction == "v" and renamed.default_size == (768, 768)
    assert renamed.unet.model_channels == tiny_sd2.unet.model_channels
    # The prediction decides between SD 2.x's two entries, whichever one the config names.
    assert apply_config(tiny_sd2, {"family": "sd2", "prediction": "v"}).name == "sd2-v"
    assert apply_config(renamed, {"prediction": "eps"}).name == "sd2"


def test_config_fields_override_one_by_one():
    base = tiny_family("sd1")
    changed = apply_config(
        base, {"label": "Mine", "default_size": [640, 384], "unet": {"num_heads": 4}, "text": None}
    )
    assert (changed.label, changed.default_size, changed.unet.num_heads, changed.text) == (
        "Mine",
        (640, 384),
        4,
        None,
    )
    assert changed.unet.model_channels == base.unet.model_channels
    assert base.default_cfg_scale == 7.0
    assert apply_config(base, {"default_cfg_scale": 3}).default_cfg_scale == 3.0
    assert base.default_noise_level == 20
    assert apply_config(base, {"default_noise_level": 0}).default_noise_level == 0
    preview = apply_config(base, {"preview_rgb": [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]]})
    assert preview.preview_rgb[1] == (0.0, 1.0, 0.0)


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"famly": "x"}, "famly"),
        ({"unet": {"model_chanels": 32}}, "model_chanels"),
        ({"prediction": "sample"}, "prediction"),
        ({"modes": ["paint"]}, "modes"),
        ({"vae": None}, "vae"),
        ({"default_cfg_scale": 80}, "default_cfg_scale"),
        ({"default_noise_level": 351}, "default_noise_level"),
    ],
)
def test_a_mistake_in_a_config_is_named_not_ignored(values, complaint):
    with pytest.raises(ValueError, match=complaint):
        apply_config(tiny_family("sd1"), values)


def test_families_are_immutable_values():
    with pytest.raises(dataclasses.FrozenInstanceError):
        KNOWN_FAMILIES["sd1"].prediction = "v"
