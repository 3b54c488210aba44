"""The gallery across restarts: the output folder's results listed again, newest first, from a cache.

At start-up the output folder is only listed (names, sizes, times: no image file is opened). A file seen
before, with the same path, size and modification time, comes from the cache folder
(`<cache>/gallery/`): `index.json` holds its seed and parameters text, and `<key>.png` its 96-px
thumbnail, where key = a hash of path + size + mtime (a changed file gets a new key). Only new or changed
files are opened, once each, in a background thread, to make the thumbnail and read the parameters from
the file's own chunks (engine.metadata.png.read_png_request). Results of this session add their
thumbnail from the image in memory. The full image is read when the user clicks it. Cache entries of
files that are gone are dropped with their thumbnails (only entries of the folder being listed: the
cache serves every output folder the user has chosen). The newest MAX_LISTED files are listed. Choosing
another output folder in Preferences lists that folder instead (`GalleryStore.reload`), the same way.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image
from PySide6.QtCore import QObject, QStandardPaths, Qt, Signal, Slot

from ldm_studio.engine import image_files, json_text
from ldm_studio.engine.errors import InputError
from ldm_studio.engine.metadata.png import A1111_CHUNK, read_png_request
from ldm_studio.engine.requests import GenerationRequest
from ldm_studio.gui.jobs.worker import ResultImage
from ldm_studio.gui.qt_images import array_to_qimage, qimage_to_pil

MAX_LISTED = 500
THUMBNAIL = 96
RESULT_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
INDEX_NAME = "index.json"
CACHE_KEY = "folders/cache"  # a settings key that moves the cache (tests keep it in their own folder)


@dataclass(frozen=True)
class StoredResult:
    """A result file of an earlier session, as the gallery lists it before it is opened."""

    path: Path
    seed: int | None
    infotext: str
    thumbnail: Path


def cache_folder(settings: Any) -> Path:
    """Where thumbnails are kept: the settings' `folders/cache`, else the platform's cache folder."""
    value = settings.store.value(CACHE_KEY)
    if isinstance(value, str) and value:
        return Path(value) / "gallery"
    location = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.CacheLocation)
    return Path(location or Path.home() / ".cache" / "ldm_studio") / "gallery"


def stamp_key(path: Path, size: int, mtime_ns: int) -> str:
    return hashlib.sha1(f"{path.resolve()}|{size}|{mtime_ns}".encode()).hexdigest()[:24]


def list_outputs(folder: Path, limit: int = MAX_LISTED) -> list[tuple[Path, int, int]]:
    """(path, size, mtime_ns) of the folder's result images, newest first; only directory entries read."""
    found = []
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(".") or not entry.name.lower().endswith(RESULT_SUFFIXES):
                continue  # hidden: the saver's temporaries
            with contextlib.suppress(OSError):
                if entry.is_file():
                    info = entry.stat()
                    found.append((Path(entry.path), info.st_size, info.st_mtime_ns))
    found.sort(key=lambda item: (item[2], item[0].name), reverse=True)
    return found[:limit]


def read_result_file(path: Path) -> tuple[Image.Image, int | None, str]:
    """Open one result file: its thumbnail, seed and parameters text (the only place files are read)."""
    with Image.open(path) as image:
        image.load()  # the text chunks after the pixels are read too
        try:
            request = read_png_request(image)
        except InputError:
            request = None
        infotext = image.info.get(A1111_CHUNK)
        thumbnail = Image.fromarray(image_files.image_array(image))
    thumbnail.thumbnail((THUMBNAIL, THUMBNAIL), Image.Resampling.LANCZOS)
    infotext = infotext if isinstance(infotext, str) else ""
    return thumbnail, (request.seed if request is not None else None), infotext


def open_stored(stored: StoredResult) -> ResultImage:
    """The full result for a listed file (read now); InputError when it is gone or unreadable."""
    pixels = image_files.load_image(stored.path)
    try:
        request = read_png_request(stored.path)
    except InputError:
        request = None
    request = request or GenerationRequest(width=pixels.shape[1], height=pixels.shape[0])
    seed = stored.seed if stored.seed is not None else request.seed
    return ResultImage(array_to_qimage(pixels), stored.infotext, seed, request, stored.path)


def _write_atomic(path: Path, write) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    os.close(handle)
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temporary)


class GalleryCache:
    """The index and thumbnails in one folder; thread-safe (the loader and the GUI both add)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._index: dict[str, dict[str, Any]] = self._read_index()

    def _read_index(self) -> dict[str, dict[str, Any]]:
        try:
            values = json_text.loads((self.folder / INDEX_NAME).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json_text.JsonError):
            return {}  # none yet, or damaged: thumbnails are made again
        entries = values.get("entries") if isinstance(values, dict) else None
        return {k: v for k, v in entries.items() if isinstance(v, dict)} if isinstance(entries, dict) else {}

    def count(self) -> int:
        with self._lock:
            return len(self._index)

    def thumbnail_path(self, key: str) -> Path:
        return self.folder / f"{key}.png"

    def lookup(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            entry = self._index.get(key)
        return entry if entry is not None and self.thumbnail_path(key).is_file() else None

    def add(
        self, key: str, thumbnail: Image.Image, seed: int | None, infotext: str, folder: Path | None = None
    ) -> dict[str, Any]:
        entry: dict[str, Any] = {"seed": seed, "infotext": infotext}
        if folder is not None:
            entry["folder"] = str(folder.resolve())  # which output folder's listing may drop it
        self.folder.mkdir(parents=True, exist_ok=True)
        _write_atomic(self.thumbnail_path(key), lambda name: thumbnail.save(name, format="PNG"))
        with self._lock:
            self._index[key] = entry
        return entry

    def keep_only(self, keys: set[str], folder: Path | None = None) -> bool:
        """Forget entries (and thumbnails) of files no longer listed; with `folder`, only that folder's
        (and those of no known folder)."""
        mine = {None, str(folder.resolve())} if folder is not None else None
        with self._lock:
            gone = [
                key
                for key, entry in self._index.items()
                if key not in keys and (mine is None or entry.get("folder") in mine)
            ]
            for key in gone:
                del self._index[key]
        for key in gone:
            with contextlib.suppress(OSError):
                self.thumbnail_path(key).unlink()
        return bool(gone)

    def save(self) -> None:
        with self._lock:
            text = json.dumps({"version": 1, "entries": self._index}, ensure_ascii=True)
        with contextlib.suppress(OSError):
            self.folder.mkdir(parents=True, exist_ok=True)
            _write_atomic(self.folder / INDEX_NAME, lambda name: Path(name).write_text(text, "utf-8"))


def load_gallery(outputs: Path, cache: GalleryCache, limit: int = MAX_LISTED) -> list[StoredResult]:
    """The output folder's results, newest first; opens only files the cache does not know."""
    listed, keys, changed = [], set(), False
    for path, size, mtime_ns in list_outputs(outputs, limit):
        key = stamp_key(path, size, mtime_ns)
        entry = cache.lookup(key)
        if entry is None:
            try:
                thumbnail, seed, infotext = read_result_file(path)
                entry = cache.add(key, thumbnail, seed, infotext, folder=outputs)
            except (OSError, ValueError, SyntaxError, InputError, Image.DecompressionBombError):
                continue  # not an image we can show (it is retried at the next start)
            changed = True
        keys.add(key)
        seed = entry.get("seed")
        infotext = entry.get("infotext")
        listed.append(
            StoredResult(
                path,
                seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
                infotext if isinstance(infotext, str) else "",
                cache.thumbnail_path(key),
            )
        )
    dropped = len(keys) != cache.count() and cache.keep_only(keys, folder=outputs)
    if changed or dropped:
        cache.save()
    return listed


class GalleryStore(QObject):
    """Loads the stored results in a background thread (`loaded`) and caches this session's results."""

    loaded = Signal(list)  # list[StoredResult], newest first
    reloading = Signal()  # another output folder: what was listed goes
    _done = Signal(int, list)

    def __init__(self, cache: GalleryCache, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.cache = cache
        self._generation = 0
        self._done.connect(self._on_done, Qt.ConnectionType.QueuedConnection)

    def load(self, outputs: Path) -> None:
        self._generation += 1
        generation = self._generation

        def work() -> None:
            try:
                listed = load_gallery(outputs, self.cache)
            except Exception:  # a cache problem must never stop the window; the gallery stays empty
                listed = []
            self._done.emit(generation, listed)

        threading.Thread(target=work, name="ldm-studio-gallery-load", daemon=True).start()

    def reload(self, outputs: Path) -> None:
        """List another output folder instead (an earlier load still running is dropped)."""
        self.reloading.emit()
        self.load(outputs)

    @Slot(int, list)
    def _on_done(self, generation: int, listed: list) -> None:
        if generation == self._generation:
            self.loaded.emit(listed)

    def remember(self, results: list[ResultImage]) -> None:
        """Thumbnails of results just saved, from the image in memory: the next start opens none."""
        for result in results:
            if result.path is None:
                continue
            try:
                info = result.path.stat()
                scaled = result.image.scaled(
                    THUMBNAIL,
                    THUMBNAIL,
                    Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation,
                )
                key = stamp_key(result.path, info.st_size, info.st_mtime_ns)
                thumbnail = qimage_to_pil(scaled).convert("RGB")
                self.cache.add(key, thumbnail, result.seed, result.infotext, folder=result.path.parent)
            except OSError:
                continue  # the cache is only a speed-up
        self.cache.save()


def install_gallery_store(window: Any) -> GalleryStore:
    """List the output folder's earlier results in the window's gallery, and cache each new result."""
    store = GalleryStore(GalleryCache(cache_folder(window.settings)), window)
    store.loaded.connect(window.gallery.add_stored)
    store.reloading.connect(window.gallery.clear_stored)
    live = getattr(window, "live", None)

    def remember(results: list[ResultImage]) -> None:
        if live is None or not live.owns_running_job():  # live mode's images are scratch: not cached
            store.remember(results)

    window.runner.result.connect(remember)
    store.load(window.settings.outputs_folder)
    return store
