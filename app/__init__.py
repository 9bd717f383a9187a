"""The Qt dashboard (PySide6 + pyqtgraph); talks to the engine over ZeroMQ only."""
