"""Non-finite values never become an all-black image: refused up front (CFG, emphasis), or the run stops
saying what went NaN and at which step (damaged UNet, VAE or text-encoder weights)."""

import math
import threading

import numpy as np
import pytest
import torch

from ldm_studio.engine.checkpoints.loading import load_model
from ldm_studio.engine.errors import InputError, LdmError
from ldm_studio.engine.pipelines.prompts import MAX_EMPHASIS, parse_emphasis
from ldm_studio.engine.pipelines.run import run
from ldm_studio.engine.requests import GenerationRequest, Result
from tests.checkpoints import write_tiny_checkpoint


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_tiny_checkpoint(tmp_path_factory.mktemp("models") / "sd1.safetensors", "sd1")


def _run(model, **changes):
    request = GenerationRequest(
        **{"prompt": "a red circle", "steps": 3, "width": 64, "height": 64, **changes}
    )
    return list(run(model, request, threading.Event()))


@pytest.mark.parametrize("cfg", [math.nan, math.inf, -math.inf])
def test_a_cfg_that_is_not_finite_is_refused_before_anything_runs(checkpoint, cfg):
    with pytest.raises(InputError, match="CFG scale must be a finite number"):
        run(load_model(checkpoint), GenerationRequest(cfg_scale=cfg, width=64, height=64), threading.Event())


@pytest.mark.parametrize(
    "prompt",
    [
        "(red:1" + "0" * 40 + ")",
        "(red:-1" + "0" * 400 + ")",
        "(" * 5000 + "red",
        "[" * 5000 + "red" + "]" * 5000,
    ],
)
def test_emphasis_weights_are_finite_and_clamped(prompt):
    weights = [factor for _, factor in parse_emphasis(prompt)]
    assert all(math.isfinite(w) and abs(w) <= MAX_EMPHASIS for w in weights)


def test_emphasis_within_the_limits_is_unchanged():
    assert parse_emphasis("((a)) [b] (c:1.5)") == [("a", pytest.approx(1.21)), (" ", 1.0),
        ("b", pytest.approx(1 / 1.1)), (" ", 1.0), ("c", 1.5)]  # fmt: skip


def test_huge_emphasis_gives_a_real_image(checkpoint):
    (result,) = [
        e for e in _run(load_model(checkpoint), prompt="(red:1" + "0" * 40 + ")") if isinstance(e, Result)
    ]
    assert np.asarray(result.images[0]).std() > 0


def _poison(module: torch.nn.Module, name: str) -> None:
    with torch.no_grad():
        dict(module.named_parameters())[name].fill_(math.nan)


@pytest.mark.parametrize(
    ("part", "parameter", "says"),
    [
        ("unet", "out.2.weight", "UNet's estimate at step 1 of 3"),
        ("vae", "decoder.conv_out.weight", "VAE's decoded image"),
        ("text_encoder", None, "text encoder gave NaN"),
    ],
)
def test_nan_weights_stop_the_run_with_what_and_where(checkpoint, part, parameter, says):
    model = load_model(checkpoint)
    module = getattr(model, part)
    _poison(module, parameter or list(dict(module.named_parameters()))[-1])
    with pytest.raises(LdmError, match=says) as caught:
        _run(model)
    assert "\n" not in str(caught.value)


def test_a_cfg_so_large_it_overflows_stops_at_the_first_step(checkpoint):
    with pytest.raises(LdmError, match=r"step 1 of 3.*CFG scale"):
        _run(load_model(checkpoint), cfg_scale=1e300)


def test_the_cpu_allocators_error_is_the_same_out_of_memory_message_as_a_gpus(checkpoint, monkeypatch):
    from ldm_studio.engine.errors import OutOfMemory
    from ldm_studio.engine.pipelines import run as run_module

    def no_memory(*args):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(run_module, "_decode", no_memory)
    with pytest.raises(OutOfMemory, match="out of memory at 64x64 with a batch of 1"):
        _run(load_model(checkpoint))


def test_other_runtime_errors_are_not_called_out_of_memory(checkpoint, monkeypatch):
    from ldm_studio.engine.pipelines import run as run_module

    def bug(*args):
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(run_module, "_decode", bug)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        _run(load_model(checkpoint))


@pytest.mark.parametrize(
    "changes",
    [{"seed": 2**64}, {"cfg_scale": math.nan}, {"steps": 0}, {"batch_size": 65}, {"width": 16384}],
)
def test_limits_that_need_no_model_are_checked_without_one(changes):
    from ldm_studio.engine.validation import check_limits

    with pytest.raises(InputError):
        check_limits(GenerationRequest(**changes))
