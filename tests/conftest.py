"""Shared test setup: headless Qt, no network, deterministic torch."""

import os

# Before anything imports Qt or transformers: no display needed, never reach a model hub.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import pytest


@pytest.fixture
def torch_threads():
    """Set torch's CPU thread count for one test (kernel choices depend on it); restored after."""
    import torch

    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)
