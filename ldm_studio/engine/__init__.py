"""The Qt-free inference engine. Its top level is the torch-free face the GUI imports: requests (the
request and its events), errors, validation, outputs, model_scan (the models folder), metadata/ and
grids/ (X/Y/Z plots).

Everything that needs torch lives in a subpackage: checkpoints/ (files, families, loading), sampling/,
pipelines/, runtime/ (devices, memory) and nets/. Nothing here imports PySide6 (tests/test_layering.py);
nothing at the top level imports torch (tests/test_architecture.py).
"""
