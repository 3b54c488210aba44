"""Schedules, samplers (pure functions, k-diffusion style) and the denoiser wrappers (CFG,
inpaint blending). May import the engine's face and checkpoints.families; never pipelines/."""
