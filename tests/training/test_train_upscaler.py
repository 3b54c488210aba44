"""The upscaler's UNet trains from its pass-through start, and a second stage continues the first."""

import torch

from ldm_studio.training import train_upscaler
from ldm_studio.training.common import CHECKPOINT
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
