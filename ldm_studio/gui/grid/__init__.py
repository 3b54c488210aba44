"""The X/Y/Z plot in the window: panel.py (axes, Run, Cancel), view.py (the grid as it fills in),
controller.py (one plot run as ordinary jobs of the window's job runner), install.py (the dock and the
menu action the main window gets). Imports the engine's face only (engine/grids is part of it)."""
