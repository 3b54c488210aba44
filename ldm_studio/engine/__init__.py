"""The Qt-free inference engine: networks, checkpoints, samplers, pipelines.

Nothing under this package may import PySide6 (tests/engine/test_layering.py checks it).
"""
