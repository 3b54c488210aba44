"""Generation parameters in PNG files: written the A1111 way plus our own chunk, read back from ours,
A1111's and ComfyUI's (in that order)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO

from PIL import Image, PngImagePlugin, UnidentifiedImageError

from ldm_studio.engine.errors import InputError
from ldm_studio.engine.metadata.a1111 import request_from_infotext
from ldm_studio.engine.metadata.comfyui import COMFYUI_CHUNK, request_from_comfyui
from ldm_studio.engine.metadata.ours import OUR_CHUNK, request_from_our_json, shareable_json
from ldm_studio.engine.requests import GenerationRequest

A1111_CHUNK = "parameters"


def write_png(
    path: str | Path | IO[bytes], image: Image.Image, infotext: str, request: GenerationRequest
) -> None:
    """Save `image` as PNG with the A1111 `parameters` chunk and our full request as JSON."""
    info = PngImagePlugin.PngInfo()
    try:
        # tEXt where the text allows: some readers skip iTXt.
        info.add_text(A1111_CHUNK, infotext.encode("latin-1"))
    except UnicodeEncodeError:
        info.add_itxt(A1111_CHUNK, infotext)
    # ASCII-only JSON always fits a tEXt chunk.
    info.add_text(OUR_CHUNK, json.dumps(shareable_json(request), ensure_ascii=True).encode("ascii"))
    image.save(path, format="PNG", pnginfo=info)


def _text_chunks(image: Image.Image) -> dict[str, str]:
    chunks = getattr(image, "text", None)
    if chunks is None:
        chunks = image.info
    found = {key: value for key, value in chunks.items() if isinstance(value, str)}
    if A1111_CHUNK not in found and (comment := _exif_user_comment(image)):
        found[A1111_CHUNK] = comment  # JPEG / WebP: A1111 keeps the parameters in EXIF UserComment
    return found


_EXIF_IFD, _USER_COMMENT = 0x8769, 0x9286


def _exif_user_comment(image: Image.Image) -> str:
    """EXIF UserComment as text: an 8-byte charset prefix, then the text ("UNICODE" is UTF-16)."""
    try:
        raw = image.getexif().get_ifd(_EXIF_IFD).get(_USER_COMMENT)
    except Exception:  # damaged EXIF is no parameters, not an error
        return ""
    if isinstance(raw, str):
        return raw
    if not isinstance(raw, bytes) or len(raw) < 8:
        return ""
    prefix, body = raw[:8], raw[8:]
    if prefix.startswith(b"UNICODE"):
        # A1111 writes big-endian; a byte-order mark, where present, says otherwise.
        encoding = "utf-16" if body[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-16-be"
        return body.decode(encoding, errors="replace")
    return body.decode("utf-8", errors="replace").rstrip("\0")


def read_png_request(source: str | Path | Image.Image) -> GenerationRequest | None:
    """The request stored in an image: ours first, then A1111 `parameters`, then ComfyUI; None if none."""
    if isinstance(source, Image.Image):
        chunks = _text_chunks(source)
    else:
        try:
            with Image.open(source) as image:
                chunks = _text_chunks(image)
        except FileNotFoundError as exc:
            raise InputError(f"Cannot read parameters: {source} does not exist.") from exc
        except (UnidentifiedImageError, OSError) as exc:
            raise InputError(f"Cannot read parameters: {source} is not a readable image ({exc}).") from exc

    if OUR_CHUNK in chunks:
        request = request_from_our_json(chunks[OUR_CHUNK])
        if request is not None:
            return request
    if chunks.get(A1111_CHUNK, "").strip():
        return request_from_infotext(chunks[A1111_CHUNK])
    if COMFYUI_CHUNK in chunks:
        return request_from_comfyui(chunks[COMFYUI_CHUNK])
    return None


# The name docs/INTERFACES.md uses.
read_png_parameters = read_png_request
