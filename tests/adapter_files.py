"""Writers of tiny adapter files for tests: kohya LoRA / LoCon (Tucker, DoRA), LoHa, LoKr, full diff, PEFT,
and textual-inversion embeddings in their four layouts.

Each LoRA writer takes {module name: the adapted weight's shape} and fills every factor with seeded random
values (no zero `up`, so every module really changes its weight). Names are written as given, so a test
states the file's key layout itself.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import torch
from safetensors.torch import save_file

Shapes = dict[str, tuple[int, ...]]


def _rand(gen: torch.Generator, *shape: int, std: float = 0.1) -> torch.Tensor:
    return torch.randn(*shape, generator=gen) * std


def _save(path: Path, tensors: dict, metadata: dict | None = None, dtype=torch.float32) -> Path:
    path = Path(path)
    tensors = {k: v.to(dtype).contiguous() for k, v in tensors.items()}
    if path.suffix == ".safetensors":
        save_file(tensors, str(path), metadata={k: str(v) for k, v in (metadata or {}).items()})
    else:
        torch.save(tensors, str(path))
    return path


def lora_tensors(
    shapes: Shapes,
    rank: int = 4,
    alpha: float | None = 2.0,
    *,
    seed: int = 0,
    tucker: bool = False,
    dora: str | None = None,
) -> dict[str, torch.Tensor]:
    """kohya LoRA / LoCon tensors. `tucker`: 3x3 convs as down 1x1, mid [r, r, 3, 3], up 1x1.
    `dora`: "out" for a [out, 1, …] magnitude, "in" for the [1, in, …] layout."""
    gen = torch.Generator().manual_seed(seed)
    out: dict[str, torch.Tensor] = {}
    for name, shape in shapes.items():
        o, i, *kernel = shape
        ones = [1] * len(kernel)
        if tucker and kernel and any(k > 1 for k in kernel):
            out[f"{name}.lora_down.weight"] = _rand(gen, rank, i, *ones)
            out[f"{name}.lora_mid.weight"] = _rand(gen, rank, rank, *kernel)
        else:
            out[f"{name}.lora_down.weight"] = _rand(gen, rank, i, *kernel)
        out[f"{name}.lora_up.weight"] = _rand(gen, o, rank, *ones)
        if alpha is not None:
            out[f"{name}.alpha"] = torch.tensor(float(alpha))
        if dora == "out":
            out[f"{name}.dora_scale"] = 1.0 + _rand(gen, o, 1, *ones)
        elif dora == "in":
            out[f"{name}.dora_scale"] = 1.0 + _rand(gen, 1, i, *ones)
    return out


def write_lora(path, shapes: Shapes, rank=4, alpha=2.0, *, seed=0, tucker=False, dora=None, metadata=None,
               dtype=torch.float32) -> Path:  # fmt: skip
    return _save(
        path, lora_tensors(shapes, rank, alpha, seed=seed, tucker=tucker, dora=dora), metadata, dtype
    )


def loha_tensors(shapes: Shapes, rank: int = 4, alpha: float = 2.0, *, seed: int = 0, tucker: bool = False):
    """LyCORIS LoHa: w_a [out, r] @ w_b [r, in·k·k]; with `tucker` on 3x3 convs w_a [r, out], w_b [r, in],
    t [r, r, kh, kw]."""
    gen = torch.Generator().manual_seed(seed)
    out: dict[str, torch.Tensor] = {}
    for name, shape in shapes.items():
        o, i, *kernel = shape
        k = 1
        for size in kernel:
            k *= size
        for n in ("1", "2"):
            if tucker and kernel and k > 1:
                out[f"{name}.hada_w{n}_a"] = _rand(gen, rank, o, std=0.3)
                out[f"{name}.hada_w{n}_b"] = _rand(gen, rank, i, std=0.3)
                out[f"{name}.hada_t{n}"] = _rand(gen, rank, rank, *kernel, std=0.3)
            else:
                out[f"{name}.hada_w{n}_a"] = _rand(gen, o, rank, std=0.3)
                out[f"{name}.hada_w{n}_b"] = _rand(gen, rank, i * k, std=0.3)
        out[f"{name}.alpha"] = torch.tensor(float(alpha))
    return out


def lokr_tensors(
    shapes: Shapes, factor: int = 4, rank: int = 2, alpha: float = 1.0, *, seed: int = 0, decompose: str = ""
):
    """LyCORIS LoKr: w1 [factor, factor'] ⊗ w2 [out/factor, in/factor', …]. `decompose`: "" both whole,
    "w2" w2 = a @ b, "w1w2" both, "tucker" w2 from a Tucker core (convs)."""
    gen = torch.Generator().manual_seed(seed)
    out: dict[str, torch.Tensor] = {}
    for name, shape in shapes.items():
        o, i, *kernel = shape
        a, c = factor, factor
        b, d = o // a, i // c
        if "w1" in decompose:
            out[f"{name}.lokr_w1_a"] = _rand(gen, a, rank, std=0.5)
            out[f"{name}.lokr_w1_b"] = _rand(gen, rank, c, std=0.5)
        else:
            out[f"{name}.lokr_w1"] = _rand(gen, a, c, std=0.5)
        if decompose == "tucker":
            out[f"{name}.lokr_w2_a"] = _rand(gen, rank, b, std=0.5)
            out[f"{name}.lokr_w2_b"] = _rand(gen, rank, d, std=0.5)
            out[f"{name}.lokr_t2"] = _rand(gen, rank, rank, *kernel, std=0.5)
        elif "w2" in decompose:
            out[f"{name}.lokr_w2_a"] = _rand(gen, b, rank, std=0.5)
            out[f"{name}.lokr_w2_b"] = _rand(gen, rank, d, *kernel, std=0.5)
        else:
            out[f"{name}.lokr_w2"] = _rand(gen, b, d, *kernel, std=0.5)
        out[f"{name}.alpha"] = torch.tensor(float(alpha))
    return out


def full_tensors(shapes: Shapes, *, seed: int = 0, bias: bool = False):
    gen = torch.Generator().manual_seed(seed)
    out: dict[str, torch.Tensor] = {}
    for name, shape in shapes.items():
        out[f"{name}.diff"] = _rand(gen, *shape, std=0.05)
        if bias:
            out[f"{name}.diff_b"] = _rand(gen, shape[0], std=0.05)
    return out


def write_tensors(path, tensors: dict, metadata: dict | None = None, dtype=torch.float32) -> Path:
    return _save(path, tensors, metadata, dtype)


def write_peft(
    path, shapes: Shapes, rank: int = 4, alpha: float | None = 8.0, *, seed: int = 0, parts=("unet",)
) -> Path:
    """diffusers / PEFT layout: `<part>.<dotted path>.lora_A.weight` / `.lora_B.weight`; names in `shapes`
    carry their part prefix (`unet.` / `text_encoder.`); alpha in `lora_adapter_metadata` as diffusers
    writes it."""
    gen = torch.Generator().manual_seed(seed)
    tensors = {}
    for name, shape in shapes.items():
        o, i, *kernel = shape
        tensors[f"{name}.lora_A.weight"] = _rand(gen, rank, i, *kernel)
        tensors[f"{name}.lora_B.weight"] = _rand(gen, o, rank, *[1] * len(kernel))
    metadata = {"format": "pt"}
    if alpha is not None:
        flat = {}
        for part in parts:
            targets = sorted(n.removeprefix(part + ".") for n in shapes if n.startswith(part + "."))
            flat |= {f"{part}.r": rank, f"{part}.lora_alpha": alpha, f"{part}.target_modules": targets}
        metadata["lora_adapter_metadata"] = json.dumps(flat)
    return _save(path, tensors, metadata)


# ---- textual inversion ----


def write_a1111_embedding(path, vectors: torch.Tensor) -> Path:
    """A1111 .pt: {string_to_param: {"*": [n, dim]}, name, step, …} (plain containers: weights-only)."""
    data = {
        "string_to_token": {"*": 265},
        "string_to_param": {"*": vectors.clone()},
        "name": Path(path).stem,
        "step": 1000,
        "sd_checkpoint": "abc",
        "sd_checkpoint_name": "model",
    }
    torch.save(data, str(path))
    return Path(path)


def write_safetensors_embedding(path, vectors: torch.Tensor, dtype=torch.float32) -> Path:
    return _save(path, {"emb_params": vectors}, dtype=dtype)


def write_sdxl_embedding(path, clip_l: torch.Tensor, clip_g: torch.Tensor) -> Path:
    return _save(path, {"clip_l": clip_l, "clip_g": clip_g})


def write_diffusers_embedding(path, token: str, vector: torch.Tensor) -> Path:
    """diffusers' learned_embeds.bin: {token: [dim]}."""
    torch.save({token: vector.clone()}, str(path))
    return Path(path)


# ---- tiny nets the adapters are applied to ----


def tiny_nets(kind: str = "sd1", seed: int = 0):
    """(UNetConfig, UNetModel, TextEncoderConfig, TextEncoder) with random weights: SD1 (conv proj_in, fixed
    heads) or SD2 (linear proj_in, 16-wide heads, penultimate OpenCLIP-style text). Fresh modules each call,
    with the same weights for the same arguments (built once, then copied)."""
    unet_config, unet_sd, text_config, text_sd = _tiny_weights(kind, seed)
    from ldm_studio.engine.nets.text import TextEncoder
    from ldm_studio.engine.nets.unet import UNetModel

    with torch.device("meta"):
        unet, text = UNetModel(unet_config), TextEncoder(text_config)
    unet.load_state_dict({k: v.clone() for k, v in unet_sd.items()}, assign=True)
    text.load_state_dict({k: v.clone() for k, v in text_sd.items()}, assign=True)
    return unet_config, unet.eval(), text_config, text.eval()


@functools.cache
def _tiny_weights(kind: str, seed: int):
    from dataclasses import replace

    from ldm_studio.engine.nets.configs import TextEncoderConfig, UNetConfig
    from ldm_studio.engine.nets.text import TextEncoder
    from ldm_studio.engine.nets.unet import UNetModel
    from tests.engine.reference_convert import randomize_

    unet_config = UNetConfig(
        model_channels=32, channel_mult=(1, 2, 2), attention_resolutions=(2, 1), num_heads=8, context_dim=32
    )
    text_config = TextEncoderConfig(hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64)
    if kind == "sd2":
        unet_config = replace(
            unet_config, num_heads=-1, num_head_channels=16, use_linear_in_transformer=True, legacy=False
        )
        text_config = replace(
            text_config,
            kind="open_clip",
            num_layers=3,
            hidden_act="gelu",
            layer="penultimate",
            pad_token_id=0,
        )
    unet = randomize_(UNetModel(unet_config), seed=seed)
    text = randomize_(TextEncoder(text_config), seed=seed + 1)
    return unet_config, unet.state_dict(), text_config, text.state_dict()
