"""The first stage: a KL autoencoder (SD, x4 upscaler) or a VQ autoencoder (CompVis LDM models).

`Autoencoder(config).state_dict()` has the keys of a real checkpoint with `first_stage_model.` stripped:
`encoder.*`, `decoder.*`, `quant_conv`, `post_quant_conv` and, for VQ, `quantize.embedding.weight`.
Latents going in and out are in the UNet's space, i.e. already multiplied by `scale_factor`.
"""

from __future__ import annotations

import torch
from torch import nn

from ldm_studio.engine.nets.configs import AutoencoderConfig
from ldm_studio.engine.nets.tiling import map_tiled
from ldm_studio.engine.nets.vae_blocks import Decoder, Encoder


class VectorQuantizer(nn.Module):
    """The VQ codebook (`quantize.embedding.weight`, [n_embed, embed_dim])."""

    def __init__(self, n_embed: int, embed_dim: int):
        super().__init__()
        self.embedding = nn.Embedding(n_embed, embed_dim)

    def forward(self, z: torch.Tensor, rows_per_chunk: int = 4096) -> torch.Tensor:
        """Replace every latent pixel of z [B, C, H, W] by its nearest codebook entry (L2)."""
        batch, channels, height, width = z.shape
        codebook = self.embedding.weight.float()
        flat = z.permute(0, 2, 3, 1).reshape(-1, channels).float()
        code_sq = (codebook**2).sum(dim=1)
        # Chunked so the [pixels, n_embed] distance matrix stays small (8192 codes x a big latent).
        indices = torch.cat(
            [(code_sq - 2 * rows @ codebook.T).argmin(dim=1) for rows in flat.split(rows_per_chunk)]
        )
        quantized = self.embedding.weight[indices].to(z.dtype)
        return quantized.view(batch, height, width, channels).permute(0, 3, 1, 2).contiguous()


class Autoencoder(nn.Module):
    def __init__(self, config: AutoencoderConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        if config.kind == "kl":
            # The encoder emits mean and log-variance, hence the doubled channels.
            self.quant_conv = nn.Conv2d(2 * config.z_channels, 2 * config.embed_dim, 1)
        else:
            self.quant_conv = nn.Conv2d(config.z_channels, config.embed_dim, 1)
            self.quantize = VectorQuantizer(config.n_embed, config.embed_dim)
        self.post_quant_conv = nn.Conv2d(config.embed_dim, config.z_channels, 1)

    @property
    def dtype(self) -> torch.dtype:
        return self.quant_conv.weight.dtype

    def _moments(self, images: torch.Tensor) -> torch.Tensor:
        """What the encoder hands to sampling: KL mean and log-variance stacked; VQ the unquantized h."""
        return self.quant_conv(self.encoder(images.to(self.dtype)))

    def _latents(self, moments: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        if self.config.kind == "vq":
            # CompVis encode_first_stage returns h before quantization; decode quantizes.
            return moments * self.config.scale_factor
        mean, logvar = moments.chunk(2, dim=1)
        if generator is None:
            return mean * self.config.scale_factor
        std = torch.exp(0.5 * logvar.clamp(-30.0, 20.0))
        # Noise drawn on the generator's device (the CPU) so a seed gives the same latents everywhere.
        if isinstance(generator, torch.Generator):
            noise = torch.randn(mean.shape, generator=generator, device=generator.device, dtype=torch.float32)
        else:  # a per-image noise source (sampling/noise.py): one sample per image, one image's moments
            noise = generator.randn((generator.batch, *mean.shape[1:]))
        return (mean + std * noise.to(mean.device, mean.dtype)) * self.config.scale_factor

    def encode(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Images [B, 3, H, W] in [-1, 1] -> latents [B, embed_dim, H/f, W/f] times scale_factor.

        KL: the posterior mean, or a sample from the posterior when a `generator` is given (a NoiseSource
        of n images gives n samples, one from each image's seed).
        VQ: the continuous latent (not yet snapped to the codebook; `decode` does that).
        """
        return self._latents(self._moments(images), generator).to(images.dtype)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents (times scale_factor) -> images in about [-1, 1] (not clamped), in the latents' dtype."""
        z = latents.to(self.dtype) / self.config.scale_factor
        if self.config.kind == "vq":
            z = self.quantize(z)
        return self.decoder(self.post_quant_conv(z)).to(latents.dtype)

    def encode_tiled(
        self,
        images: torch.Tensor,
        tile: int = 512,
        overlap: int = 64,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """`encode` in overlapping tiles of `tile` pixels (multiples of the downscale factor).

        The posterior moments are blended, then sampled once, so the noise matches an untiled encode.
        """
        f = self.config.downscale
        if tile % f or overlap % f:
            raise ValueError(f"tile and overlap must be multiples of {f} pixels, got {tile} and {overlap}")
        moments = map_tiled(self._moments, images, tile=tile, overlap=overlap, scale=1 / f, align=f)
        return self._latents(moments, generator).to(images.dtype)

    def decode_tiled(self, latents: torch.Tensor, tile: int = 64, overlap: int = 16) -> torch.Tensor:
        """`decode` in overlapping tiles of `tile` latent pixels (64 = 512 image pixels for KL-f8)."""
        return map_tiled(self.decode, latents, tile=tile, overlap=overlap, scale=self.config.downscale)
