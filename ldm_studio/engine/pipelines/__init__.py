"""A request in, events out: the run, conditioning (prompts, tokenizer), inpainting, upscaling,
the VAE codec, images and previews. May import anything in the engine."""
