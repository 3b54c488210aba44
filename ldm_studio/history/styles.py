"""Styles: named prompt snippets, kept in `styles.csv` in the data folder, in A1111's format.

The file has the columns `name,prompt,negative_prompt` (A1111's; the csv module's quoting, so commas,
quotes and new lines inside a prompt survive). Reading accepts what A1111 and hand edits leave: a
UTF-8 byte-order mark, extra columns (ignored), columns in any order or case, missing prompt columns,
blank rows. Applying a style follows A1111's rule: a `{prompt}` in the style's text is replaced by the
user's prompt; without one, the style's text is appended after ", " (the same for the negative prompt).

Importing a user's A1111 styles.csv merges it into ours and never writes the file imported: a new name
is added, the same name with the same text is skipped, the same name with other text is added as
"NAME (imported)" so neither is lost. Our file is written whole to a temporary file and renamed over.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ldm_studio.engine.errors import InputError

FILE_NAME = "styles.csv"
COLUMNS = ("name", "prompt", "negative_prompt")
PLACEHOLDER = "{prompt}"
MAX_FILE_BYTES = 8 * 1024 * 1024  # a styles file is text a person wrote; anything larger is not one


class StylesError(InputError):
    """A styles file that cannot be read or written; the message names the file and why."""


@dataclass(frozen=True)
class Style:
    name: str
    prompt: str = ""
    negative_prompt: str = ""


@dataclass(frozen=True)
class ImportReport:
    added: tuple[str, ...]
    renamed: tuple[str, ...]  # names added as "NAME (imported)": ours of that name differs
    skipped: int  # already there, same text

    def summary(self, source: Path) -> str:
        parts = [f"{len(self.added)} new"]
        if self.renamed:
            parts.append(f"{len(self.renamed)} renamed (“… (imported)”, ours of that name kept)")
        if self.skipped:
            parts.append(f"{self.skipped} already there")
        return f"Styles imported from {source.name}: " + ", ".join(parts) + "."


def merge_text(style_text: str, user_text: str) -> str:
    """A1111's rule: the user's text goes where `{prompt}` is, or the style's text is appended to it."""
    if PLACEHOLDER in style_text:
        return style_text.replace(PLACEHOLDER, user_text)
    return ", ".join(part for part in (user_text.strip(), style_text.strip()) if part)


def apply_style(style: Style, prompt: str, negative: str) -> tuple[str, str]:
    return merge_text(style.prompt, prompt), merge_text(style.negative_prompt, negative)


def read_styles(path: Path) -> list[Style]:
    """The styles in a file, in file order (a name given twice: the later row wins, in the first's place).

    A missing file is no styles; a file that is not a styles table raises StylesError."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise StylesError(f"{path}: {path.stat().st_size} bytes is too big for a styles file")
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        return []
    except UnicodeDecodeError as exc:
        raise StylesError(f"{path}: not a text file in UTF-8 ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise StylesError(f"Cannot read {path}: {exc.strerror or exc}") from exc
    return parse_styles(text, str(path))


def parse_styles(text: str, where: str = "styles.csv") -> list[Style]:
    if "\0" in text:
        raise StylesError(f"{where}: not a text file (it holds NUL bytes)")
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise StylesError(f"{where}: not a CSV table ({exc})") from exc
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        return []
    header = [cell.strip().lower() for cell in rows[0]]
    if "name" not in header:
        found = ", ".join(cell for cell in header if cell) or "nothing"
        raise StylesError(f"{where}: not a styles file: no “name” column in its first row (found {found})")
    index = {column: header.index(column) for column in COLUMNS if column in header}
    styles: dict[str, Style] = {}
    for row in rows[1:]:
        cells = {column: row[i] if i < len(row) else "" for column, i in index.items()}
        name = cells["name"].strip()
        if name:
            styles[name] = Style(name, cells.get("prompt", ""), cells.get("negative_prompt", ""))
    return list(styles.values())


def write_styles(path: Path, styles: Iterable[Style]) -> None:
    """Write the whole file: to a temporary file beside it, then renamed over (never half a file)."""
    path = Path(path)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for style in styles:
        writer.writerow((style.name, style.prompt, style.negative_prompt))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as file:
            file.write(buffer.getvalue())
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        raise StylesError(f"Cannot write {path}: {exc.strerror or exc}") from exc


def merge_styles(ours: list[Style], theirs: Iterable[Style]) -> tuple[list[Style], ImportReport]:
    merged = list(ours)
    by_name = {style.name: style for style in merged}
    added: list[str] = []
    renamed: list[str] = []
    skipped = 0
    for style in theirs:
        mine = by_name.get(style.name)
        text = (style.prompt, style.negative_prompt)
        copies = [
            s for n, s in by_name.items() if n == style.name or n.startswith(f"{style.name} (imported)")
        ]
        if any((s.prompt, s.negative_prompt) == text for s in copies):
            skipped += 1  # there already, under its name or as an earlier import's copy
            continue
        name = style.name
        if mine is not None:
            name = _free_name(f"{style.name} (imported)", by_name)
            renamed.append(name)
        else:
            added.append(name)
        new = Style(name, style.prompt, style.negative_prompt)
        merged.append(new)
        by_name[name] = new
    return merged, ImportReport(tuple(added), tuple(renamed), skipped)


def import_styles(source: Path, target: Path) -> ImportReport:
    """Merge the styles of `source` (only read) into the file `target` (written when anything is new)."""
    source, target = Path(source), Path(target)
    if source.resolve() == target.resolve():
        raise StylesError(f"{source} is the app's own styles file already: choose another one to import")
    theirs = read_styles(source)
    if not theirs and not source.is_file():
        raise StylesError(f"{source}: no such file")
    merged, report = merge_styles(read_styles(target), theirs)
    if report.added or report.renamed:
        write_styles(target, merged)
    return report


def _free_name(name: str, taken: dict[str, Style]) -> str:
    candidate, number = name, 2
    while candidate in taken:
        candidate = f"{name} {number}"
        number += 1
    return candidate
