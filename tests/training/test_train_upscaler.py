"""The upscaler's UNet trains from its pass-through start, and a second stage continues the first."""

import json

import torch

from ldm_studio.engine.checkpoints.demo_models import demo_model_path
from ldm_studio.engine.checkpoints.families import METADATA_KEY
from ldm_studio.engine.checkpoints.files import read_safetensors_header
from ldm_studio.engine.checkpoints.shapes import UNET_PREFIX
from ldm_studio.training import train_upscaler
from ldm_studio.training.common import CHECKPOINT
from ldm_studio.training.from_export import exported_part
from ldm_studio.training.sr_autoencoder import upsampling_autoencoder
from ldm_studio.training.train_autoencoder import AUTOENCODER, save_weights


def test_a_whole_image_stage_starts_from_the_crop_stage_and_keeps_its_scale(tmp_path, monkeypatch):
    monkeypatch.setattr(train_upscaler, "RENDERS", 2)  # rendering 512² images is the slow part
    torch.manual_seed(0)
    save_weights(upsampling_autoencoder(AUTOENCODER), tmp_path / "ae.safetensors")
    common = ["--autoencoder", str(tmp_path / "ae.safetensors"), "--steps", "2", "--batch", "2"]
    first, second = tmp_path / "crops", tmp_path / "whole"
    train_upscaler.main(["--out", str(first), "--pairs", "4", *common, "--ema", "0.9"])
    train_upscaler.main(
        [
            "--out",
            str(second),
            "--pairs",
            "2",
            "--crop",
            "512",
            "--init-unet",
            str(first),
            *common,
            "--lr",
            "0",
        ]
    )
    whole_latents, _ = torch.load(second / train_upscaler.CACHE)
    assert whole_latents.shape == (2, 4, 128, 128)
    assert train_upscaler.run_scale_factor(second) == train_upscaler.run_scale_factor(first)
    start = torch.load(first / CHECKPOINT, weights_only=True)["ema_unet"]
    after = torch.load(second / CHECKPOINT, weights_only=True)["unet"]
    assert all(
        torch.equal(start[k], after[k]) for k in start
    )  # lr 0: the second stage holds the first's weights


def test_a_run_can_start_from_the_shipped_model_file(tmp_path, monkeypatch):
    """Run folders stay on the machine that trained them; the exported demo-upscaler ships."""
    monkeypatch.setattr(train_upscaler, "RENDERS", 2)
    shipped = demo_model_path("upscale")
    args = ["--out", str(tmp_path), "--autoencoder", str(shipped), "--init-unet", str(shipped)]
    train_upscaler.main([*args, "--pairs", "2", "--steps", "1", "--batch", "2", "--lr", "0"])
    header = json.loads(read_safetensors_header(shipped)[1][METADATA_KEY])
    assert train_upscaler.run_scale_factor(tmp_path) == header["vae"]["scale_factor"]
    exported = exported_part(shipped, UNET_PREFIX)
    after = torch.load(tmp_path / CHECKPOINT, weights_only=True)["unet"]
    assert exported.keys() == after.keys()
    assert all(torch.equal(exported[k], after[k]) for k in exported)


def test_a_clean_share_of_the_batch_sits_at_level_0_and_the_rest_is_drawn_as_before():
    plain = train_upscaler.draw_levels(16, 0.0, torch.Generator().manual_seed(3))
    clean = train_upscaler.draw_levels(16, 0.25, torch.Generator().manual_seed(3))
    assert clean[:4].eq(0).all() and torch.equal(clean[4:], plain[4:])  # the same random stream
    assert (
        plain[:8].le(train_upscaler.LOW_NOISE_LEVEL).all() and plain.le(train_upscaler.MAX_NOISE_LEVEL).all()
    )
    assert plain[:4].ne(0).any()
