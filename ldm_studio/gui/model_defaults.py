"""Settings that follow the chosen model: its trained size, guidance scale and upscale noise level, the
sizes and refiners offered for it, and what the docks may pair with it (LoRAs, ControlNets).

A value the user left at the previous model's own follows the next model; one the user changed stays. A
restored session keeps its size and guidance; a first run starts at the model's own.
"""

from __future__ import annotations

from ldm_studio.engine.model_scan import ModelEntry
from ldm_studio.engine.requests import DEFAULT_NOISE_LEVEL
from ldm_studio.gui.panels.loras import adapter_folders
from ldm_studio.gui.panels.models import no_models_hint
from ldm_studio.gui.panels.size_presets import is_sdxl


class ModelDefaults:
    """Holds the chosen model's own values, so the next choice can tell which the user left alone."""

    def __init__(self, window, *, first_run: bool) -> None:
        self.window = window
        self.first_run = first_run
        self.first_scan = True
        self.trained_size: tuple[int, int] | None = None  # of the chosen model, once scanned
        self.recommended_cfg: float | None = None  # its guidance scale, likewise
        self.recommended_noise = DEFAULT_NOISE_LEVEL  # and its upscale noise level

    def entry(self) -> ModelEntry | None:
        return self.window.models.entry_for(self.window.document.model)

    def on_models_changed(self) -> None:
        window = self.window
        first_scan, self.first_scan = self.first_scan, False
        window.adapters_panel.set_folders(*adapter_folders(window.models.folder))  # it may have moved
        window.controlnet_panel.set_folder(window.models.folder)
        follow = first_scan and self.first_run
        self.apply(follow_size=follow, follow_cfg=follow, follow_noise=follow)
        if first_scan and not window.models.user_entries and not window.document.model:
            window.notice.show_info(no_models_hint(window.models.folder))

    def on_model_chosen(self) -> None:
        document = self.window.document
        self.say_if_refiner()
        self.apply(
            follow_size=(document.width, document.height) == self.trained_size,
            follow_cfg=document.cfg_scale == self.recommended_cfg,
            follow_noise=document.noise_level == self.recommended_noise,
        )

    def say_if_refiner(self) -> None:
        entry = self.entry()
        if entry is not None and entry.family == "sdxl-refiner":
            self.window.notice.show_info(
                f"{entry.name} is an SDXL refiner, meant to finish a base model's image: choose an SDXL"
                " base as the model and this one as its Refiner, or use it in Image → Image at a low"
                " strength. Text → Image with it alone still runs."
            )

    def apply(self, follow_size: bool, follow_cfg: bool, follow_noise: bool) -> None:
        """Offer sizes that suit the model; switch to the size it was trained at, the guidance scale it
        draws best at and the noise level it upscales best at where asked."""
        window, document, entry = self.window, self.window.document, self.entry()
        family = entry.family if entry is not None else None
        trained = entry.default_size if entry is not None else None
        recommended = entry.default_cfg_scale if entry is not None else None
        noise = entry.default_noise_level if entry is not None else None
        noise = DEFAULT_NOISE_LEVEL if noise is None else noise  # none named (no upscaler, an older file)
        self.trained_size, self.recommended_cfg, self.recommended_noise = trained, recommended, noise
        window.prompt_panel.set_model(family, trained)
        window.prompt_panel.set_refiners(self.refiner_choices())
        window.adapters_panel.set_model_family(family)
        window.controlnet_panel.set_model_family(family)
        if follow_size and trained:
            document.width, document.height = trained
        if follow_cfg and recommended is not None:
            document.cfg_scale = recommended
        if follow_noise and entry is not None:
            document.noise_level = noise

    def refiner_choices(self) -> list[tuple[str, str]]:
        """SDXL refiners first, then the other SDXL models (A1111 lets any of them refine)."""
        chosen = self.window.document.model
        entries = self.window.models.user_entries
        sdxl = [e for e in entries if e.usable and is_sdxl(e.family) and str(e.path) != chosen]
        sdxl.sort(key=lambda e: e.family != "sdxl-refiner")
        return [(e.name, str(e.path)) for e in sdxl if "inpaint" not in e.family]
