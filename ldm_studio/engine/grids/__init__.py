"""X/Y/Z plots: one base request varied along up to three axes, every cell an ordinary generation.

What lives here (all torch-free, part of the face the GUI may import):
- `axes`     the axis kinds (seed, cfg, steps, sampler, schedule, model, lora_weight, size, denoise,
             prompt_sr): how a value is read, checked and applied to a request.
- `plan`     parse "name=v1,v2,…" (CSV quoting, ranges) and build the cells, every value checked first.
- `compose`  the labelled grid image (PIL) from the cells' images.
- `run`      run the cells through injected engine calls (load a model, run a request), grouped by model.

Imports allowed here: the engine's face (requests, errors, validation, outputs, metadata),
adapters.prompt_tags / adapters.folders (pure Python), PIL, numpy and the standard library; torch-using
engine code only through the callables a caller passes in.
"""
