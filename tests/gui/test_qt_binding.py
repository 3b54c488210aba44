"""The Qt binding must not corrupt the interpreter: a long session makes millions of Qt calls."""

import sys


def test_void_qt_calls_and_signal_emits_keep_reference_counts(qtbot):
    from PySide6.QtCore import QObject, Signal
    from PySide6.QtWidgets import QWidget

    class Emitter(QObject):
        fired = Signal(bool)

    widget = QWidget()
    qtbot.addWidget(widget)
    emitter = Emitter()
    none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(2000):
        widget.update()
        emitter.fired.emit(True)
    # PySide6 6.12.0 on Python 3.11 loses one reference per call: after enough calls Python aborts.
    assert abs(sys.getrefcount(None) - none_before) < 100
    assert abs(sys.getrefcount(True) - true_before) < 100
