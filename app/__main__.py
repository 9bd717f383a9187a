"""``python -m app``: the dashboard (see app.main)."""

import os
import sys

from app.main import main

code = main()
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)  # Qt's OpenGL objects must not be collected at interpreter exit (a PySide6 crash)
