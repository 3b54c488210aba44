"""The docks and dialogs around the canvas: prompt, models, gallery, preferences, status and
notice bars. May import the gui top level, gui.jobs and the engine's torch-free face."""
