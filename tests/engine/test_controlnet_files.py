"""ControlNet files: kind from the name, family from the shapes, other files named, the cache."""

import pytest
import torch
from safetensors.torch import save_file

from ldm_studio.engine.adapters.controlnet_files import inspect_controlnet
from ldm_studio.engine.adapters.controlnet_layout import kind_from_name
from ldm_studio.engine.errors import CheckpointError
from tests.controlnets import write_tiny_controlnet


@pytest.mark.parametrize(("name", "kind"), [
    ("control_v11p_sd15_canny.pth", "canny"), ("control_v11f1p_sd15_depth.safetensors", "depth"),
    ("control_v11p_sd15s2_lineart_anime.pth", "lineart_anime"),
    ("control_v11p_sd15_openpose.pth", "openpose"),
    ("control_v11f1e_sd15_tile.pth", "tile"), ("control_v11p_sd15_inpaint.pth", "inpaint"),
    ("control_v11p_sd15_normalbae.pth", "normal"), ("control_v11p_sd15_scribble.pth", "scribble"),
    ("control_v11p_sd15_softedge.pth", "softedge"),
    ("controlnet-canny-sdxl-1.0/diffusion_pytorch_model.safetensors", "canny"),
    ("my_controlnet.safetensors", ""),
])  # fmt: skip
def test_kind_from_the_file_name(name, kind):
    assert kind_from_name(name) == kind


def test_family_from_shapes_and_other_files_named(tmp_path):
    for family in ("sd1", "sd2", "sdxl"):
        info = inspect_controlnet(write_tiny_controlnet(tmp_path / f"cn_{family}.safetensors", family))
        assert (info.family, info.layout, info.config.hint_channels) == (family, "original", 3)
    lora = tmp_path / "lora.safetensors"
    save_file({"lora_unet_conv_in.lora_down.weight": torch.zeros(4, 4)}, str(lora))
    with pytest.raises(
        CheckpointError, match=r"lora\.safetensors is not a ControlNet we can read: it looks like a LoRA"
    ):
        inspect_controlnet(lora)
    full = tmp_path / "model.safetensors"
    save_file({"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(4, 4)}, str(full))
    with pytest.raises(CheckpointError, match="full Stable Diffusion checkpoint, not a ControlNet"):
        inspect_controlnet(full)


def test_loaded_controlnets_are_cached_until_the_request_drops_them(tmp_path):
    from ldm_studio.engine.checkpoints.loading import load_model
    from ldm_studio.engine.pipelines.controlnet_conditioning import prepare_controls
    from ldm_studio.engine.requests import ControlNetUnit, GenerationRequest
    from tests.checkpoints import write_tiny_checkpoint

    model = load_model(
        write_tiny_checkpoint(tmp_path / "m.safetensors", "sd1"), device="cpu", precision="fp32"
    )
    a, b = (write_tiny_controlnet(tmp_path / f"{n}.safetensors", "sd1") for n in ("a", "b"))
    pixels = torch.zeros(64, 64, 3, dtype=torch.uint8).numpy()

    def request(*files):
        units = tuple(ControlNetUnit(file=str(f), pixels=pixels) for f in files)
        return GenerationRequest(width=64, height=64, controlnets=units)

    first = prepare_controls(model, request(a, b)).active[0].loaded
    assert prepare_controls(model, request(a)).active[0].loaded is first  # not read again
    assert [k[0] for k in model.controlnet_cache] == [str(a)]  # b dropped


def test_a_controlnet_given_as_the_model_says_so(tmp_path):
    from ldm_studio.engine.checkpoints.loading import load_model

    path = write_tiny_controlnet(tmp_path / "control_v11p_sd15_canny.safetensors", "sd1")
    with pytest.raises(CheckpointError, match="it looks like a ControlNet: give it with --controlnet"):
        load_model(path, device="cpu", precision="fp32")
