"""What one benchmark configuration runs: which weights, where, in which precision, at which sizes.

Three configurations (issue 9): `tiny` (the test-sized SD 1.x, seconds on a CPU; `--quick`), `sd15-cpu`
(SD 1.5 shapes with random weights at 256² and few steps), `sd15-cuda` (SD 1.5 shapes, fp16, 512², 20
steps; only where CUDA is present). Both sides always read the same checkpoint file.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

# Plain text (no emphasis syntax, which diffusers would read literally): both sides encode the same tokens.
PROMPT = "a lighthouse on a cliff at sunset, oil painting, dramatic sky"
NEGATIVE = "blurry, low quality"
SEED, CFG_SCALE = 1234, 7.0


@dataclass(frozen=True)
class BenchSpec:
    name: str
    shapes: str  # "tiny" or "sd15": which checkpoint shapes (ldm_studio.bench.load.checkpoint_shapes)
    device: str  # "cpu" or "cuda[:N]"
    precision: str  # "fp32" / "fp16" / "bf16"
    size: int  # the image side of the table rows (square images)
    steps: int  # sampling steps of the txt2img rows
    plot_sizes: tuple[int, ...]  # image sides timed for the seconds-per-image plot
    repeats: int  # timed runs per side of the load and txt2img rows (after warm-up), alternating
    step_repeats: int  # the same for the single-network rows and the first preview (cheaper)
    warmup: int = 1  # untimed runs per side before a row (0 where one run costs minutes)
    threads: int = 0  # torch intra-op threads; 0 = torch's default (all cores)
    clock: str = "wall"  # "wall" or "cpu" (process CPU time; see timing.py)
    channels_last: bool = False
    compile: bool = False
    path: str = ""  # the checkpoint both sides load (filled in when written)
    diffusers_folder: str = ""  # diffusers' config folder for from_single_file / from_pretrained

    def replace(self, **changes) -> BenchSpec:
        return dataclasses.replace(self, **changes)

    @property
    def is_cuda(self) -> bool:
        return self.device.startswith("cuda")

    def describe(self) -> str:
        extras = [
            x for x, on in (("channels_last", self.channels_last), ("torch.compile", self.compile)) if on
        ]
        return (
            f"{self.name}: SD 1.x {'tiny test' if self.shapes == 'tiny' else 'SD 1.5-sized'} random weights, "
            f"{self.device} {self.precision}{''.join(', ' + x for x in extras)}, {self.size}², "
            f"{self.threads or 'default'} CPU threads, {self.steps} Euler steps, CFG {CFG_SCALE:g}; "
            f"median {self.clock} time of {self.repeats} (load, txt2img) / {self.step_repeats} runs per side"
        )


CONFIGS: dict[str, BenchSpec] = {
    "tiny": BenchSpec("tiny", "tiny", "cpu", "fp32", 64, 20, (64, 128, 192, 256), repeats=7, step_repeats=15),
    "sd15-cpu": BenchSpec(
        "sd15-cpu", "sd15", "cpu", "fp32", 256, 4, (128, 192, 256), repeats=3, step_repeats=3, warmup=0
    ),
    "sd15-cuda": BenchSpec(
        "sd15-cuda", "sd15", "cuda", "fp16", 512, 20, (256, 512, 768, 1024), repeats=5, step_repeats=20
    ),
}
