"""A1111 `<lora:NAME:M>` prompt tags: parse them out, edit a tag's weight. Pure Python, no torch.

Forms: `<lora:NAME>` (1), `<lora:NAME:M>` (text encoder and UNet both M), `<lora:NAME:M_TE:M_UNET>`,
and the named `<lora:NAME:te=M_TE:unet=M_UNET>`; `<lyco:…>` is the same (the old LyCORIS extension's
tag). NAME is the file stem and cannot hold `:`, `<` or `>`. The tag is removed from the prompt text
before tokenising, exactly as written (the text around it is left alone, as A1111 does).
The pattern's classes exclude the delimiters and its quantifiers are possessive: linear-time matching.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ldm_studio.engine.errors import InputError

# Possessive quantifiers (Python 3.11): no backtracking into a run once matched.
_TAG = re.compile(r"<(lora|lyco):([^:<>]++)((?::[^:<>]*+)*+)>", re.IGNORECASE)


@dataclass(frozen=True)
class LoraTag:
    kind: str  # "lora" or "lyco", lower case
    name: str
    te: float  # text-encoder multiplier
    unet: float  # UNet multiplier
    start: int  # span of the tag in the prompt it was parsed from
    end: int


def parse_lora_tags(prompt: str) -> tuple[str, list[LoraTag]]:
    """(the prompt with every tag removed, the tags in order of appearance)."""
    tags = [_tag(match) for match in _TAG.finditer(prompt)]
    return _TAG.sub("", prompt), tags


def _tag(match: re.Match) -> LoraTag:
    kind, name, args = match.group(1).lower(), match.group(2).strip(), match.group(3)
    positional: list[float] = []
    named: dict[str, float] = {}
    for arg in args.split(":")[1:]:
        key, eq, value = arg.partition("=")
        if eq:
            named[key.strip().lower()] = _number(value, match.group(0))
        elif arg.strip():
            positional.append(_number(arg, match.group(0)))
    te = named.get("te", positional[0] if positional else 1.0)
    unet = named.get("unet", positional[1] if len(positional) > 1 else te)
    return LoraTag(kind, name, te, unet, match.start(), match.end())


def _number(text: str, tag: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise InputError(f"{tag}: {text.strip()!r} is not a number") from None


def format_weight(value: float) -> str:
    """A multiplier as a person writes it: 1, 0.8, 0.75, -0.5 (two decimals at most)."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def format_lora_tag(name: str, te: float = 1.0, unet: float | None = None, kind: str = "lora") -> str:
    """`<lora:NAME:M>`, or `<lora:NAME:M_TE:M_UNET>` when the UNet's differs."""
    if unet is None or format_weight(unet) == format_weight(te):
        return f"<{kind}:{name}:{format_weight(te)}>"
    return f"<{kind}:{name}:{format_weight(te)}:{format_weight(unet)}>"


def set_lora_weight(prompt: str, name: str, te: float, unet: float | None = None) -> str:
    """Set the weight of every `<lora:NAME…>` tag in `prompt` (the GUI's slider); append one if none.

    Names compare case-sensitively, as file stems on most systems do.
    """
    out, last, found = [], 0, False
    for match in _TAG.finditer(prompt):
        if match.group(2).strip() != name:
            continue
        found = True
        out += [prompt[last : match.start()], format_lora_tag(name, te, unet, match.group(1).lower())]
        last = match.end()
    if not found:
        separator = "" if not prompt or prompt.endswith((" ", ",", "\n")) else " "
        return prompt + separator + format_lora_tag(name, te, unet)
    return "".join(out) + prompt[last:]


def remove_lora_tag(prompt: str, name: str) -> str:
    """Drop every `<lora:NAME…>` tag from the prompt text."""
    return _TAG.sub(lambda m: "" if m.group(2).strip() == name else m.group(0), prompt)
