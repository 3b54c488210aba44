"""The Sketch tool bar: colour brush, sketch eraser, eyedropper, colour, show, inpaint sketch, undo.

It calls only SketchTool's API and follows its signals, so a tool chosen with B / E / I on the canvas
or a colour picked with the eyedropper shows here too. Size and hardness are the mask tool bar's
(the canvas brush), so `[` `]` work for both.
"""

from __future__ import annotations

from PySide6.QtGui import QAction, QActionGroup, QColor, QIcon, QPixmap
from PySide6.QtWidgets import QColorDialog, QToolBar, QWidget

from ldm_studio.gui.canvas.sketch_tool import SketchTool


def _swatch(color: QColor) -> QIcon:
    pixmap = QPixmap(16, 16)
    pixmap.fill(color)
    return QIcon(pixmap)


class SketchToolbar(QToolBar):
    def __init__(self, tool: SketchTool, parent: QWidget | None = None) -> None:
        super().__init__("Sketch", parent)
        self.setObjectName("sketch_toolbar")  # saveState needs names
        self.tool = tool
        group = QActionGroup(self)
        group.setExclusionPolicy(QActionGroup.ExclusionPolicy.ExclusiveOptional)
        self.tool_actions: dict[str, QAction] = {}
        for name, text, tip in (
            ("brush", "Sketch", "Paint colour on the sketch layer (B while sketching)"),
            ("eraser", "Sketch eraser", "Erase the sketch (E while sketching)"),
            ("picker", "Pick colour", "Take a colour from the image (I while sketching; or Alt+click)"),
        ):
            action = self._action(text, tip, checkable=True)
            action.triggered.connect(lambda checked, n=name: tool.set_tool(n if checked else ""))
            group.addAction(action)
            self.tool_actions[name] = action
        self.color_action = self._action("Sketch colour…", "Choose the sketch colour")
        self.color_action.triggered.connect(self.choose_color)
        self.show_action = self._action("Show sketch", "Show the sketch (only a shown one is used)", True)
        self.show_action.triggered.connect(tool.set_visible)
        self.inpaint_action = self._action(
            "Inpaint sketch", "Repaint only where the sketch is painted (its area is the mask)", True
        )
        self.inpaint_action.toggled.connect(lambda on: setattr(tool, "inpaint_sketch", on))
        self.undo_action = self._action("Undo sketch", "Undo the last sketch stroke (Ctrl+Z while sketching)")
        self.undo_action.triggered.connect(tool.undo)
        self.redo_action = self._action("Redo sketch", "Redo a sketch stroke (Ctrl+Shift+Z while sketching)")
        self.redo_action.triggered.connect(tool.redo)
        self.clear_action = self._action("Clear sketch", "Erase the whole sketch (undoable)")
        self.clear_action.triggered.connect(tool.clear)
        tool.toolChanged.connect(self._follow)
        tool.colorChanged.connect(self._follow)
        tool.visibilityChanged.connect(self._follow)
        tool.historyChanged.connect(self._follow)
        self._follow()

    def _action(self, text: str, tip: str, checkable: bool = False) -> QAction:
        action = self.addAction(text)
        action.setToolTip(tip)
        action.setCheckable(checkable)
        return action

    def choose_color(self) -> None:
        color = QColorDialog.getColor(self.tool.color(), self, "Sketch colour")
        if color.isValid():
            self.tool.set_color(color)

    def _follow(self) -> None:
        active = self.tool.tool()
        for name, action in self.tool_actions.items():
            action.setChecked(name == active)
        self.color_action.setIcon(_swatch(self.tool.color()))
        self.show_action.setChecked(self.tool.visible())
        self.undo_action.setEnabled(self.tool.layer.history.can_undo())
        self.redo_action.setEnabled(self.tool.layer.history.can_redo())
