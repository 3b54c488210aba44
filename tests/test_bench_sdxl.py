"""The SDXL bench: its file writer, diffusers' config folder, and both sides' code paths on a tiny file."""

import dataclasses
import math

import pytest
import torch

from ldm_studio.bench import sdxl
from ldm_studio.bench.sdxl_file import sdxl_checkpoint_entries, write_streamed
from ldm_studio.engine.checkpoints.families import KNOWN_FAMILIES
from ldm_studio.engine.checkpoints.shapes import detect_family
from tests.sdxl_checkpoints import TINY_BIGG, TINY_CLIP_L, TINY_SDXL_UNET, TINY_SDXL_VAE

TINY = dataclasses.replace(
    KNOWN_FAMILIES["sdxl"], unet=TINY_SDXL_UNET, vae=TINY_SDXL_VAE, text=TINY_CLIP_L, text2=TINY_BIGG
)


def test_full_size_entries_are_sdxl_base_for_us_and_for_diffusers():
    from diffusers.loaders.single_file_utils import infer_diffusers_model_type

    entries = sdxl_checkpoint_entries()
    assert detect_family({k: e.shape for k, e in entries.items()}).name == "sdxl"
    meta = {k: torch.empty(e.shape, dtype=e.dtype, device="meta") for k, e in entries.items()}
    assert infer_diffusers_model_type(meta) == "xl_base"
    size = sum(math.prod(e.shape) * e.dtype.itemsize for e in entries.values())
    assert 6.9e9 < size < 7.0e9  # sd_xl_base_1.0.safetensors: 6.94 GB
    assert len(entries) == 2515  # the released file's tensor count


def test_streamed_file_reads_back_with_the_promised_init(tmp_path):
    from safetensors.torch import load_file

    entries = sdxl_checkpoint_entries(TINY)
    path = tmp_path / "tiny.safetensors"
    write_streamed(path, entries)
    state = load_file(str(path))
    assert {k: tuple(v.shape) for k, v in state.items()} == {k: e.shape for k, e in entries.items()}
    conv = state["model.diffusion_model.input_blocks.0.0.weight"].float()
    assert abs(conv.std().item() - 0.02) < 0.002
    assert torch.equal(state["model.diffusion_model.out.0.weight"], torch.ones(32, dtype=torch.float16))
    assert not state["model.diffusion_model.out.0.bias"].any()
    ids = state["conditioner.embedders.0.transformer.text_model.embeddings.position_ids"]
    assert ids.dtype == torch.int64 and ids.tolist() == [list(range(77))]


@pytest.fixture(scope="module")
def tiny_spec(tmp_path_factory):
    from ldm_studio.bench.sdxl_diffusers import write_sdxl_config_folder

    folder = tmp_path_factory.mktemp("sdxl-bench")
    path = folder / "tiny-sdxl.safetensors"
    write_streamed(path, sdxl_checkpoint_entries(TINY))
    config = write_sdxl_config_folder(path, folder / "diffusers")
    return sdxl.SPEC.replace(
        path=str(path), diffusers_folder=str(config), size=64, steps=1, step_repeats=1, warmup=0, threads=1
    )


def test_both_sides_measure_every_phase_on_a_tiny_file(tiny_spec):
    threads = torch.get_num_threads()
    try:
        results = {side: sdxl.measure_side(side, tiny_spec) for side in sdxl.SIDES}
    finally:
        torch.set_num_threads(threads)
    for phases in results.values():
        assert set(phases) == {"load", *sdxl.TIMED}
        assert all(p["wall_s"] > 0 and p["peak_rss"] > 0 for p in phases.values())
    table = sdxl.rows(results, sdxl.fp32_size(tiny_spec.path))
    assert len(table) == 9 and all(row["ratio"] > 0 for row in table)
    text = sdxl.markdown(table, tiny_spec)
    assert "UNet step, CFG (batch 2)" in text and "peak RSS, txt2img" in text


def test_same_unet_step_on_both_sides(tiny_spec):
    """The two UNet-step rows time the same computation: equal outputs on the same weights and inputs."""
    from ldm_studio.bench.sdxl_diffusers import SdxlTheirs
    from ldm_studio.bench.sdxl_ours import SdxlOurs

    ours, theirs = SdxlOurs(tiny_spec), SdxlTheirs(tiny_spec)
    for side in (ours, theirs):
        side.load()
        side.prepare()
    with torch.inference_mode():
        denoised = ours.denoise(ours.latents, ours.sigma)
    theirs.unet_step()
    sigma = ours.sigma
    expected = ours.latents - sigma * theirs.out  # ε → denoised, as our eps denoiser does
    assert torch.allclose(denoised, expected, atol=1e-4), (denoised - expected).abs().max()


def test_priming_reads_the_whole_file_and_leaves_it_alone(tmp_path):
    path = tmp_path / "weights.bin"
    data = bytes(range(256)) * 5000  # not a multiple of the read chunk
    path.write_bytes(data)
    assert sdxl.prime_machine(path, need=2**20, chunk=4096) == len(data)
    assert path.read_bytes() == data


def test_the_alternated_vae_row_decodes_the_same_weights_on_both_sides(tiny_spec):
    from ldm_studio.bench.sdxl_vae import _vaes
    from ldm_studio.engine.pipelines.vae_codec import decode_latents

    ours, theirs = _vaes(tiny_spec.path)
    latents = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        mine = decode_latents(ours, latents)
        reference = theirs.decode(latents / theirs.config.scaling_factor).sample
    assert mine.shape == reference.shape and (mine - reference).abs().max() < 1e-4
    threads = torch.get_num_threads()
    try:
        result = sdxl.measure_side(sdxl.BOTH_VAES, tiny_spec)
    finally:
        torch.set_num_threads(threads)
    assert all(len(result[side]["wall_samples"]) == 4 and result[side]["wall_s"] > 0 for side in sdxl.SIDES)
    fake = {
        side: {p: {"wall_s": 1.0, "cpu_s": 1.0, "peak_rss": 1} for p in ("load", *sdxl.TIMED)}
        for side in sdxl.SIDES
    }
    labels = [row["label"] for row in sdxl.rows(fake, 1, result)]
    assert labels[labels.index("VAE decode") + 1] == sdxl.ALTERNATED_LABEL
