"""The canvas widget, its input (mouse, pen, keys), overlay, painter, view and toolbar.
May import gui.mask and the gui top level."""
