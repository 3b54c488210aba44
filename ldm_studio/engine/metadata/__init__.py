"""Generation parameters in image files, one module per format: a1111 (infotext), comfyui (graph), ours
(our JSON chunk) and png (writes and reads the chunks). Torch-free: the GUI imports it."""

from ldm_studio.engine.metadata.a1111 import format_infotext, parse_infotext, request_from_infotext
from ldm_studio.engine.metadata.comfyui import request_from_comfyui
from ldm_studio.engine.metadata.png import read_png_parameters, read_png_request, write_png

__all__ = [
    "format_infotext",
    "parse_infotext",
    "read_png_parameters",
    "read_png_request",
    "request_from_comfyui",
    "request_from_infotext",
    "write_png",
]
