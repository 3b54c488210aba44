"""Adapters: LoRA / LyCORIS files and textual-inversion embeddings, read and merged into loaded nets.

What lives here:
- `lora_files`   read a LoRA-type file (.safetensors, weights-only .pt/.ckpt) into per-module factors,
                 tell its format per module, its family (sd1 / sd2 / sdxl) and its trigger words.
- `lora_keys`    map module names (kohya `lora_unet_*` / `lora_te*_*` in diffusers or original layout,
                 PEFT `unet.*` / `text_encoder*.*`) onto our nets' parameter names, from their structure.
- `deltas`       ΔW in float32 per format: LoRA/LoCon (+ Tucker), LoHa, LoKr, full diff, DoRA.
- `merge`        merge a set of adapters into the nets' weights with an exact, bit-for-bit undo.
- `embeddings`   textual-inversion files: the vectors per text encoder for a prompt word.
- `prompt_tags`  `<lora:NAME:M>` tags in prompt strings: pure Python, no torch (the GUI may import it).

Imports allowed here: torch, safetensors, ldm_studio.engine.nets, ldm_studio.engine.errors (and the
standard library). Nothing here loads checkpoints, tokenizes or knows about the GUI.
"""
