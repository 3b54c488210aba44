"""Exported demo checkpoints store weights in fp16 and vectors (norms, biases) in fp32."""

import torch

from ldm_studio.training.export_models import _prefixed


def test_matrices_are_halved_and_vectors_keep_fp32():
    state = {
        "conv.weight": torch.randn(4, 4, 3, 3),
        "norm.weight": torch.full((4,), 47.140452),
        "norm.bias": torch.full((4,), 48.333333),
        "steps": torch.arange(3),
    }
    stored = _prefixed("first_stage_model.", state)
    assert stored["first_stage_model.conv.weight"].dtype == torch.float16
    assert stored["first_stage_model.norm.bias"].dtype == torch.float32
    # in fp16 this shift would land 0.01 off: 1.3/255 of a colour, at every norm of the upscaler's decoder
    assert torch.equal(stored["first_stage_model.norm.bias"], state["norm.bias"])
    assert stored["first_stage_model.steps"].dtype == torch.int64
