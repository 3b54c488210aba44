"""ldm_studio: an offline desktop studio for latent diffusion models."""

__version__ = "0.1.0"
