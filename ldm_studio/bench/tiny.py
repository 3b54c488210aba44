"""The test-sized SD 1.x: the bench's `tiny` configuration, and the sd1 base of tests/checkpoints.py.

In the package (not in tests/) so `python -m ldm_studio.bench.load --size tiny` works from an installed
wheel. Widths are multiples of 32 so diffusers' GroupNorm(32) references can be built from the same numbers.
"""

from __future__ import annotations

from ldm_studio.engine.checkpoints.families import KNOWN_FAMILIES, Family, fit_to_family
from ldm_studio.engine.nets.configs import AutoencoderConfig, TextEncoderConfig, UNetConfig

TEXT_WIDTH = 32
TINY_CLIP = TextEncoderConfig(hidden_size=TEXT_WIDTH, num_layers=2, num_heads=1, intermediate_size=128)
TINY_KL_F8 = AutoencoderConfig(ch=32, ch_mult=(1, 1, 2, 2), num_res_blocks=1)
# SD 1.x: attention at the first level and in the middle, none at the last level, like the real one.
TINY_SD1_UNET = UNetConfig(
    model_channels=32,
    channel_mult=(1, 2),
    num_res_blocks=1,
    attention_resolutions=(1,),
    context_dim=TEXT_WIDTH,
)


def tiny_sd1_family() -> Family:
    """SD 1.x with the tiny configs above: what `tests.checkpoints.tiny_family("sd1")` returns too."""
    return fit_to_family(KNOWN_FAMILIES["sd1"], TINY_SD1_UNET, TINY_KL_F8, TINY_CLIP)
