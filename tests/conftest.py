"""Shared test setup: headless Qt, no network, deterministic torch."""

import os

# Before anything imports Qt or transformers: no display needed, never reach a model hub.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
