"""`ldm-studio info FILE`: a checkpoint described in the CLI's words (inspection gives the facts)."""

from __future__ import annotations

from pathlib import Path

from ldm_studio.engine.checkpoints.inspection import inspect_checkpoint
from ldm_studio.engine.file_hashes import short_hash

_PREDICTION_NOTES = {
    "family": "",
    "yaml": " (from the YAML beside the file)",
    "metadata": " (from the file's metadata)",
    "guessed": " (guessed from the weights; override with --prediction if images look wrong)",
    "override": " (as asked)",
    "key": " (the file's v_pred key)",
}


def describe_checkpoint(path: str | Path) -> str:
    """What `ldm-studio info FILE` prints: family, prediction, sizes per part, dtype and short hash."""
    info = inspect_checkpoint(path)
    family = info.config
    source = {"shapes": "", "yaml": ", from the YAML beside it", "metadata": ", from its metadata"}
    labels = {"unet": "UNet", "vae": "VAE", "text": "text encoder", "text2": "second text"}
    rows = [
        ("family", f"{family.name} ({family.label}{source[info.config_source]})"),
        ("prediction", f"{family.prediction}{_PREDICTION_NOTES[info.prediction_source]}"),
        *((("betas", "zero terminal SNR (the file's ztsnr key)"),) if family.zero_terminal_snr else ()),
        ("modes", ", ".join(family.modes)),
        ("native size", f"{family.default_size[0]}x{family.default_size[1]}"),
        ("guidance", f"CFG {family.default_cfg_scale:g}" if family.text else "none (no text encoder)"),
        *(
            (labels[part], f"{n / 1e6:.1f} M parameters, {info.dtypes[part]}")
            for part, n in info.parameters.items()
        ),
        (
            "file",
            f"{_human_size(info.file_size)}, {info.format}" + (", unused EMA copy" if info.has_ema else ""),
        ),
        ("short hash", short_hash(info.path)),
    ]
    return "\n".join([info.path.name, *(f"  {label + ':':<14}{value}" for label, value in rows)])


def _human_size(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.2f} {unit}"
    return f"{size} bytes"
