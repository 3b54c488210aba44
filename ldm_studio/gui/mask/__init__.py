"""The Qt-free mask model: brush, rectangles, undo, feather, the mask document.
numpy only: never PySide6, never torch."""
