"""ldm_studio: an offline desktop studio for latent diffusion models."""

import os

__version__ = "0.1.0"

# The app never touches the network: tell the Hugging Face libraries so before anything imports them,
# so a missing local file is an error here instead of a download attempt.
for _switch in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY"):
    os.environ.setdefault(_switch, "1")
# transformers >= 5.25 would otherwise offer to fetch compiled "hub kernels"; we run our own layers.
os.environ.setdefault("USE_HUB_KERNELS", "NO")
