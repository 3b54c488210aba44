"""PNG parameters: what we write is what A1111-style tools read, and what others wrote loads back."""

import json
import re
import struct
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from ldm_studio.engine.errors import InputError
from ldm_studio.engine.metadata import (
    format_infotext,
    parse_infotext,
    read_png_request,
    request_from_infotext,
    write_png,
)
from ldm_studio.engine.requests import GenerationRequest

# The parameter-line grammar of docs/MODEL_FACTS.md, kept here literally so the test does not trust our copy.
A1111_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')

TXT2IMG = GenerationRequest(
    prompt="a lighthouse at dusk, oil painting",
    negative_prompt="blurry, low quality",
    steps=20,
    sampler="dpmpp_2m",
    schedule="karras",
    cfg_scale=7.0,
    width=512,
    height=768,
)


def _png_chunks(path: Path) -> list[tuple[str, bytes]]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        chunks.append((data[pos + 4 : pos + 8].decode("ascii"), data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return chunks


def test_txt2img_infotext_is_the_a1111_layout():
    text = format_infotext(
        TXT2IMG, seed=12345, model_name="v1-5-pruned-emaonly", model_hash="6ce0161689", version="v0.1.0"
    )
    assert text == (
        "a lighthouse at dusk, oil painting\n"
        "Negative prompt: blurry, low quality\n"
        "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 12345, Size: 512x768, "
        "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Version: v0.1.0"
    )


def test_empty_negative_prompt_leaves_out_its_line():
    text = format_infotext(TXT2IMG.replace(negative_prompt=""), seed=1)
    assert "Negative prompt" not in text
    assert text.splitlines()[0] == "a lighthouse at dusk, oil painting"
    assert text.splitlines()[1].startswith("Steps: 20, ")


@pytest.mark.parametrize(
    ("mode", "present", "absent"),
    [
        ("txt2img", [], ["Denoising strength", "Mask blur", "Noise level"]),
        ("img2img", ["Denoising strength: 0.6"], ["Mask blur", "Noise level"]),
        ("inpaint", ["Denoising strength: 0.6", "Mask blur: 8"], ["Noise level"]),
        ("upscale", ["Noise level: 35"], ["Denoising strength", "Mask blur"]),
    ],
)
def test_mode_specific_parameters(mode, present, absent):
    request = TXT2IMG.replace(mode=mode, strength=0.6, mask_blur=8, noise_level=35)
    params_line = format_infotext(request, seed=3).splitlines()[-1]
    for item in present:
        assert item in params_line
    for name in absent:
        assert name not in params_line


def test_values_with_commas_colons_and_newlines_are_quoted_and_parse_back():
    text = format_infotext(TXT2IMG, seed=7, model_name='my model, v2: "final"\nbuild', model_hash="abc")
    params_line = text.splitlines()[-1]
    pairs = dict(A1111_PARAM.findall(params_line))
    assert pairs["Model"] == json.dumps('my model, v2: "final"\nbuild')
    assert pairs["Seed"] == "7"
    assert parse_infotext(text)["Model"] == 'my model, v2: "final"\nbuild'


def test_normal_schedule_writes_no_schedule_type_like_a1111_automatic():
    text = format_infotext(TXT2IMG.replace(schedule="normal", sampler="euler_a"), seed=1)
    assert "Schedule type" not in text
    assert "Sampler: Euler a," in text


def test_parse_hand_written_a1111_text_with_multiline_prompt_and_quoted_value():
    text = (
        "masterpiece, a cat\nsitting on a (red:1.2) chair\n"
        "Negative prompt: ugly, deformed\nextra limbs\n"
        "Steps: 28, Sampler: Euler a, CFG scale: 6.5, Seed: 965400086, Size: 640x448, Model hash: 45dee52b, "
        'Model: "anything, v3", Denoising strength: 0.55, Lora hashes: "a: 1f2e, b: 9c8d", Version: v1.10.1'
    )
    params = parse_infotext(text)
    assert params["Prompt"] == "masterpiece, a cat\nsitting on a (red:1.2) chair"
    assert params["Negative prompt"] == "ugly, deformed\nextra limbs"
    assert params["Model"] == "anything, v3"
    assert params["Lora hashes"] == "a: 1f2e, b: 9c8d"
    assert params["Size"] == "640x448"

    request = request_from_infotext(text)
    assert (request.mode, request.steps, request.sampler) == ("img2img", 28, "euler_a")
    assert request.cfg_scale == 6.5
    assert (request.seed, request.width, request.height, request.strength) == (965400086, 640, 448, 0.55)
    assert request.negative_prompt == "ugly, deformed\nextra limbs"
    assert request.model == ""  # a name and hash, not a file on this machine


def test_parse_text_without_negative_prompt_and_legacy_karras_sampler_name():
    text = "a forest\nSteps: 30, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 42, Size: 512x512"
    request = request_from_infotext(text)
    assert request.prompt == "a forest"
    assert request.negative_prompt == ""
    assert (request.sampler, request.schedule, request.steps, request.seed) == ("dpmpp_2m", "karras", 30, 42)
    assert request.mode == "txt2img"


def test_inpaint_and_upscale_modes_are_recognised():
    inpaint = request_from_infotext(
        "x\nSteps: 20, Sampler: DDIM, CFG scale: 7, Seed: 1, Size: 512x512, Denoising strength: 0.8, "
        "Mask blur: 6, Inpaint area: Only masked, Masked area padding: 48"
    )
    assert (inpaint.mode, inpaint.mask_blur, inpaint.inpaint_only_masked, inpaint.inpaint_padding) == (
        "inpaint",
        6,
        True,
        48,
    )
    upscale = request_from_infotext("x\nSteps: 20, Sampler: Euler, CFG scale: 9, Seed: 1, Noise level: 50")
    assert (upscale.mode, upscale.noise_level) == ("upscale", 50)


def test_round_trip_through_our_own_format_and_parse():
    request = TXT2IMG.replace(mode="inpaint", strength=0.35, mask_blur=2, seed=99, sampler="heun")
    back = request_from_infotext(format_infotext(request, seed=99, model_name="m", model_hash="h"))
    for name in ("prompt", "negative_prompt", "steps", "sampler", "schedule", "cfg_scale", "seed"):
        assert getattr(back, name) == getattr(request, name), name
    assert (back.width, back.height, back.mode) == (512, 768, "inpaint")
    assert (back.strength, back.mask_blur) == (0.35, 2)


@pytest.mark.parametrize(
    "garbage",
    ["", "\n\n", "Steps: lots, Sampler: ???, CFG scale: nan, Seed: -, Size: big", '"""', "\x00\xff", "a: b"],
)
def test_garbage_never_crashes_and_keeps_defaults(garbage):
    parse_infotext(garbage)
    request = request_from_infotext(garbage)
    assert request.steps == 20 and request.sampler == "euler" and request.cfg_scale == 7.0


def test_png_round_trip_writes_latin1_text_chunks_and_restores_the_full_request(tmp_path):
    request = TXT2IMG.replace(seed=5, eta=0.3, preview_interval=3, inpaint_padding=40, model="/m/a.ckpt")
    infotext = format_infotext(request, seed=5)
    path = tmp_path / "out.png"
    write_png(path, Image.new("RGB", (16, 8), (200, 10, 10)), infotext, request)

    chunks = dict((name, body) for name, body in _png_chunks(path) if name in ("tEXt", "iTXt"))
    assert "tEXt" in chunks and "iTXt" not in chunks  # plain tEXt: readable by every tool
    with Image.open(path) as image:
        assert image.text["parameters"] == infotext
        assert image.getpixel((3, 3)) == (200, 10, 10)
        assert json.loads(image.text["ldm_studio"])["preview_interval"] == 3
    assert read_png_request(path) == request.replace(model="a.ckpt")  # the file name, not the folder


def test_non_latin1_prompt_falls_back_to_itxt(tmp_path):
    request = TXT2IMG.replace(prompt="桜の木, 富士山")
    path = tmp_path / "jp.png"
    write_png(path, Image.new("RGB", (8, 8)), format_infotext(request, seed=1), request)
    names = [name for name, _ in _png_chunks(path)]
    assert "iTXt" in names
    with Image.open(path) as image:
        assert image.text["parameters"].startswith("桜の木, 富士山\n")
    assert read_png_request(path).prompt == "桜の木, 富士山"


def _save_with_chunks(path: Path, **chunks: str) -> Path:
    info = PngImagePlugin.PngInfo()
    for key, value in chunks.items():
        info.add_text(key, value)
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    return path


def test_a1111_png_is_read_when_our_chunk_is_absent_or_damaged(tmp_path):
    text = "a house\nSteps: 12, Sampler: Heun, CFG scale: 5, Seed: 77, Size: 256x320"
    only_a1111 = read_png_request(_save_with_chunks(tmp_path / "a.png", parameters=text))
    damaged = read_png_request(_save_with_chunks(tmp_path / "b.png", parameters=text, ldm_studio="{not json"))
    for request in (only_a1111, damaged):
        assert (request.prompt, request.steps, request.sampler, request.seed) == ("a house", 12, "heun", 77)
        assert (request.width, request.height) == (256, 320)


def test_wrongly_typed_values_in_our_chunk_keep_their_defaults(tmp_path):
    ours = json.dumps({"prompt": "ok", "steps": "many", "sampler": "warp", "cfg_scale": 4, "future_field": 1})
    request = read_png_request(_save_with_chunks(tmp_path / "t.png", ldm_studio=ours))
    assert (request.prompt, request.steps, request.sampler, request.cfg_scale) == ("ok", 20, "euler", 4.0)


COMFYUI_PROMPT = {
    "3": {
        "class_type": "KSampler",
        "inputs": {
            "seed": 156680208700286,
            "steps": 25,
            "cfg": 8.5,
            "sampler_name": "euler_ancestral",
            "scheduler": "karras",
            "denoise": 1,
            "model": ["4", 0],
            "positive": ["6", 0],
            "negative": ["7", 0],
            "latent_image": ["5", 0],
        },
    },
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 768, "height": 512, "batch_size": 2}},
    "6": {
        "class_type": "CLIPTextEncode",
        "inputs": {"text": "beautiful scenery, glass bottle", "clip": ["4", 1]},
    },
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": ["10", 0], "clip": ["4", 1]}},
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    "10": {"class_type": "PrimitiveNode", "inputs": {"value": "text, watermark"}},
}


def test_comfyui_prompt_chunk_is_read(tmp_path):
    path = _save_with_chunks(tmp_path / "c.png", prompt=json.dumps(COMFYUI_PROMPT), workflow="{}")
    request = read_png_request(path)
    assert request.prompt == "beautiful scenery, glass bottle"
    assert request.negative_prompt == "text, watermark"
    assert (request.seed, request.steps, request.cfg_scale) == (156680208700286, 25, 8.5)
    assert (request.sampler, request.schedule) == ("euler_a", "karras")
    assert (request.width, request.height, request.batch_size, request.mode) == (768, 512, 2, "txt2img")


def test_comfyui_graph_without_sampler_or_broken_links_gives_none_or_defaults(tmp_path):
    no_sampler = {"1": {"class_type": "SaveImage", "inputs": {}}}
    assert read_png_request(_save_with_chunks(tmp_path / "n.png", prompt=json.dumps(no_sampler))) is None
    inputs = {"positive": ["99", 0], "steps": "x", "latent_image": 5}
    broken = {"3": {"class_type": "KSampler", "inputs": inputs}}
    request = read_png_request(_save_with_chunks(tmp_path / "b.png", prompt=json.dumps(broken)))
    assert (request.prompt, request.steps) == ("", 20)


def test_png_without_parameters_gives_none_and_a_non_image_is_a_clear_error(tmp_path):
    plain = tmp_path / "plain.png"
    Image.new("RGB", (4, 4)).save(plain)
    assert read_png_request(plain) is None
    text_file = tmp_path / "notes.png"
    text_file.write_text("hello")
    with pytest.raises(InputError, match=r"notes\.png"):
        read_png_request(text_file)


def test_saved_parameters_name_the_model_file_but_not_the_users_folders(tmp_path):
    request = GenerationRequest(model="/home/alice/models/sd15.safetensors", vae="/home/alice/vae.pt", seed=3)
    path = tmp_path / "out.png"
    write_png(path, Image.new("RGB", (8, 8)), "a prompt\nSteps: 20", request)
    with Image.open(path) as image:
        chunks = dict(image.text)
    assert "alice" not in chunks["ldm_studio"]
    restored = read_png_request(path)
    assert restored.model == "sd15.safetensors" and restored.vae == "vae.pt" and restored.seed == 3
