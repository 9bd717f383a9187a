"""The dashboard's main window: 3D skeletons, attention heatmaps, identities, status, sources,
replay controls, enrollment and the gallery manager.

Nothing heavy runs on the UI thread: a timer drains the engine's socket within a small time
budget (`EngineClient.poll`), another redraws at display rate from the client's state; control
requests have short timeouts; replays publish from their own thread.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pyqtgraph.opengl as gl
from PySide6 import QtCore, QtGui, QtWidgets

from app.client import EngineClient, Key
from app.player import Player
from engine.bus import Publisher
from engine.skeleton import BODY_GRID, BODY_GRID_INDEX, BONES, INDEX

BONE_INDEX = np.array([(INDEX[a], INDEX[b]) for a, b in BONES]).ravel()
HEAD = INDEX["Head"]
UNKNOWN_COLOUR = (0.62, 0.62, 0.62)
PALETTE = [(0.12, 0.47, 0.71), (1.0, 0.5, 0.05), (0.17, 0.63, 0.17), (0.84, 0.15, 0.16), (0.58, 0.4, 0.74),
           (0.55, 0.34, 0.29), (0.89, 0.47, 0.76), (0.74, 0.74, 0.13), (0.09, 0.75, 0.81)]


def share_gl_contexts() -> None:
    """Before the QApplication exists: let every 3D view share GL objects (pyqtgraph caches its
    shader programs; a second view in another context fails with GL_INVALID_VALUE otherwise)."""
    QtCore.QCoreApplication.setAttribute(QtCore.Qt.AA_ShareOpenGLContexts)


_COLOURS: dict[str, int] = {}  # name -> palette index, in order of first appearance


def identity_colour(name: str) -> tuple[float, float, float]:
    """A colour per name, kept for the session (grey for unknown). Names take the palette's
    colours in the order they first appear, so the first len(PALETTE) people all differ (a hash
    of the name gave two of the demo's four walkers the same colour)."""
    if name == "unknown":
        return UNKNOWN_COLOUR
    if name not in _COLOURS:
        _COLOURS[name] = len(_COLOURS) % len(PALETTE)
    return PALETTE[_COLOURS[name]]


def to_view(points: np.ndarray) -> np.ndarray:
    """Sensor coordinates (x right, y up, z away) -> the view's (x, depth, up)."""
    return points[..., [0, 2, 1]]


def cohort_note(cohort: dict | None) -> str:
    """What the open-set threshold rests on, for the status bar (engine/identity.py)."""
    if not cohort:
        return ""
    if cohort["source"] == "training":
        return " (open set: training statistics until 2+ people are enrolled)"
    if cohort["source"] == "gallery+training":
        return f" (open set: gallery of {cohort['pairs']} pairs, leaning on training statistics)"
    return f" (open set: normalised on this gallery, {cohort['pairs']} pairs)"


class SceneView(gl.GLViewWidget):
    """Every tracked body: bones, joints shaded by confidence, a trail, the name at the head."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setBackgroundColor((18, 20, 26))
        self.setCameraPosition(distance=7.5, elevation=18, azimuth=-90)
        self.opts["center"] = pg.Vector(0, 3, 0.8)
        self.grid = gl.GLGridItem(size=QtGui.QVector3D(12, 12, 1))
        self.grid.setSpacing(0.5, 0.5)
        self.grid.setColor((90, 90, 100, 120))
        self.addItem(self.grid)
        self.bones = gl.GLLinePlotItem(mode="lines", width=3, antialias=True)
        self.trails = gl.GLLinePlotItem(mode="lines", width=1.5, antialias=True)
        self.joints = gl.GLScatterPlotItem(size=9, pxMode=True)
        self.glimpsed = gl.GLScatterPlotItem(size=20, pxMode=True)  # A3D: the joints its glimpses hold
        for item in (self.bones, self.trails, self.glimpsed, self.joints):
            self.addItem(item)
        self.labels: dict[Key, QtWidgets.QLabel] = {}  # names: widgets over the view (GL text
        # drawn with QPainter inside paintGL is lost on some drivers, Xvfb's among them)
        self.floor = None
        self.draw_ms: list[float] = []

    def draw(self, bodies: dict, names: dict[Key, str], actions: dict[Key, str] | None = None,
             glimpsed: dict[Key, dict[str, float]] | None = None) -> None:
        """``glimpsed``: per track, the joints A3D's glimpses held in its newest window, each with
        the share of glimpses that held it (drawn as a halo, brighter for more)."""
        start = time.perf_counter()
        keys = list(bodies)
        self._draw_glimpses(bodies, glimpsed or {})
        if not keys:
            for item in (self.bones, self.trails, self.joints):
                item.setData(pos=np.zeros((0, 3)))
        else:
            joints = np.stack([bodies[k].joints for k in keys])  # [B, 25, 3]
            conf = np.stack([bodies[k].confidence for k in keys])
            feet = float(np.where(conf > 0, joints[..., 1], np.inf).min())  # the lowest joint given
            if np.isfinite(feet):
                self.floor = feet if self.floor is None else min(self.floor + 0.002, feet)
            self.grid.resetTransform()
            self.grid.translate(0, 3, self.floor or 0.0)
            colours = np.array([identity_colour(names.get(k, "unknown")) for k in keys])
            shade = 0.3 + 0.7 * np.clip(conf, 0, 1)[..., None]  # [B, 25, 1]
            seen = (conf > 0)[..., None].astype(float)  # a joint the sensor lost is not drawn
            joint_rgba = np.concatenate([colours[:, None, :] * shade, seen], -1)
            pts = to_view(joints)
            self.joints.setData(pos=pts.reshape(-1, 3), color=joint_rgba.reshape(-1, 4))
            bone_seen = seen[:, BONE_INDEX].reshape(len(keys), -1, 2, 1).min(2).repeat(2, 1)
            bone_rgba = np.concatenate([np.repeat(colours[:, None, :], len(BONE_INDEX), 1), bone_seen], -1)
            self.bones.setData(pos=pts[:, BONE_INDEX].reshape(-1, 3), color=bone_rgba.reshape(-1, 4))
            segs, seg_rgba = [], []
            for k, c in zip(keys, colours):
                trail = np.asarray(bodies[k].trail)
                if len(trail) > 1:
                    trail = to_view(trail.copy())
                    trail[:, 2] = (self.floor or 0.0) + 0.01
                    segs.append(np.stack([trail[:-1], trail[1:]], 1).reshape(-1, 3))
                    alpha = np.repeat(np.linspace(0.05, 0.8, len(trail) - 1), 2)[:, None]
                    seg_rgba.append(np.concatenate([np.tile(c, (len(alpha), 1)), alpha], 1))
            if segs:
                self.trails.setData(pos=np.concatenate(segs), color=np.concatenate(seg_rgba))
            else:
                self.trails.setData(pos=np.zeros((0, 3)))
        for key in [k for k in self.labels if k not in bodies]:
            self.labels.pop(key).deleteLater()
        project = self._projection()
        placed: list[QtCore.QRect] = []
        for key in sorted(keys, key=lambda k: float(bodies[k].joints[HEAD][2])):  # the nearest keeps its place
            name = names.get(key, "unknown")
            label = self.labels.get(key)
            if label is None:
                label = self.labels[key] = QtWidgets.QLabel(self)
                label.setAttribute(QtCore.Qt.WA_TransparentForMouseEvents)
            r, g, b = (int(255 * min(1.0, c + 0.25)) for c in identity_colour(name))
            text = f"{name} ({key[0]}/{key[1]})"
            if actions and actions.get(key):
                text += f"\n{actions[key]}"
            if label.text() != text:
                label.setText(text)
                label.setStyleSheet(f"color: rgb({r},{g},{b}); background: rgba(0,0,0,110); padding: 1px 4px;"
                                    "border-radius: 3px; font-weight: bold")
                label.adjustSize()
            head = to_view(bodies[key].joints[HEAD]) + np.array([0, 0, 0.3])
            at = project.map(QtGui.QVector3D(*map(float, head))).toPointF()
            rect = QtCore.QRect(int(at.x() - label.width() / 2), int(at.y() - label.height()),
                                label.width(), label.height())
            while any(rect.intersects(r) for r in placed):  # never on top of another name: lift it
                rect.moveBottom(min(r.top() for r in placed if rect.intersects(r)) - 2)
            placed.append(rect)
            label.move(rect.topLeft())
            label.show()
        self.draw_ms.append((time.perf_counter() - start) * 1e3)
        del self.draw_ms[:-500]


    def _draw_glimpses(self, bodies: dict, glimpsed: dict[Key, dict[str, float]]) -> None:
        pts, rgba = [], []
        for key, share in glimpsed.items():
            body = bodies.get(key)
            if body is None:
                continue
            for name, w in share.items():
                k = INDEX.get(name)
                if k is not None and body.confidence[k] > 0:
                    pts.append(body.joints[k])
                    rgba.append((1.0, 0.85, 0.2, 0.25 + 0.6 * min(w, 1.0)))
        if pts:
            self.glimpsed.setData(pos=to_view(np.array(pts, float)), color=np.array(rgba))
        else:
            self.glimpsed.setData(pos=np.zeros((0, 3)))

    def _projection(self) -> QtGui.QMatrix4x4:
        """Scene coordinates -> widget pixels."""
        rect = QtCore.QRectF(self.rect())
        viewport = QtGui.QMatrix4x4()
        viewport.viewport(rect.left(), rect.bottom(), rect.width(), -rect.height())
        vp = self.getViewport()
        return viewport * self.projectionMatrix(vp, vp) * self.viewMatrix()


def short_joint(name: str) -> str:
    """A joint's name for a narrow axis: FootLeft -> Foot L, SpineShoulder -> SpineSh."""
    for side, tag in (("Left", " L"), ("Right", " R")):
        if name.endswith(side):
            return name[: -len(side)] + tag
    return {"SpineShoulder": "SpineSh", "SpineBase": "SpineB", "SpineMid": "SpineM"}.get(name, name)


def glimpsed_joints(glimpses: list[dict]) -> dict[str, float]:
    """The share of A3D's glimpses that held each joint ({joint name: share})."""
    share: dict[str, float] = {}
    for g in glimpses:
        for name in g.get("joints", []):
            share[name] = share.get(name, 0.0) + 1.0 / len(glimpses)
    return share


class AttentionView(pg.GraphicsLayoutWidget):
    """The selected track's newest gait window: one attention matrix per axis (X, Y, Z), rows
    the output (decoded) frame, columns the input frame, as in the SGE-LA paper's Fig. 4."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setBackground((18, 20, 26))
        self.images, self.plots = [], []
        cmap = pg.colormap.get("viridis")
        for i, axis in enumerate("XYZ"):
            plot = self.addPlot(row=0, col=i, title=f"{axis} axis")
            plot.setLabel("bottom", "input frame")
            if i == 0:
                plot.setLabel("left", "output frame")
            plot.invertY(True)
            plot.setAspectLocked(True)
            plot.setMouseEnabled(False, False)
            plot.hideButtons()
            self.plots.append(plot)
            img = pg.ImageItem(axisOrder="row-major")
            img.setColorMap(cmap)
            plot.addItem(img)
            self.images.append(img)
        self.matrix: np.ndarray | None = None
        self.glimpse_mode = self.no_attention = False

    def show_matrix(self, attention: np.ndarray | None) -> None:
        """SGE-LA's [3, f, f] per axis; A3D's glimpse map [1, f, 20] across the panel (columns the
        body-ordered joint grid: left leg, left arm, torso, right arm, right leg)."""
        self.matrix = attention
        glimpses = attention is not None and attention.shape[0] == 1
        # an encoder without attention (the distilled student `--checkpoint fast`) sends an empty glimpse map
        none = glimpses and not attention.any()
        if (glimpses, none) != (self.glimpse_mode, self.no_attention):
            self.glimpse_mode, self.no_attention = glimpses, none
            self.clear()
            for i, plot in enumerate(self.plots[:1] if glimpses else self.plots):
                self.addItem(plot, row=0, col=i)
            self.plots[0].setTitle("no attention: this gait encoder has none to show" if none else
                                   "A3D glimpses: frame x joint (L leg, L arm, torso, R arm, R leg)" if glimpses
                                   else "X axis")
            self.plots[0].setLabel("bottom", "joint" if glimpses else "input frame")
            self.plots[0].setLabel("left", "frame" if glimpses else "output frame")
            self.plots[0].setAspectLocked(not glimpses)
            bottom = self.plots[0].getAxis("bottom")
            bottom.setTicks([[(k + 0.5, short_joint(j)) for k, j in enumerate(BODY_GRID)]] if glimpses else None)
            for side in ("left", "bottom"):  # nothing to read off axes of an empty panel
                (self.plots[0].hideAxis if none else self.plots[0].showAxis)(side)
        for i, img in enumerate(self.images):
            if attention is None or i >= len(attention) or none:
                img.clear()
                continue
            mat = attention[i][:, list(BODY_GRID_INDEX)] if glimpses else attention[i]
            img.setImage(mat, levels=(0, max(float(attention.max()), 1e-6)))
            self.plots[i].setRange(xRange=(0, mat.shape[1]), yRange=(0, mat.shape[0]), padding=0.02)


class TopView(pg.PlotWidget):
    """Top-k names of the selected track as bars of their gait scores, in the engine's ranking
    order (gait, or gait and body shape together: the axis says which)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setBackground((18, 20, 26))
        self.setXRange(0, 1)
        self.setLabel("bottom", "cosine score")
        self.getAxis("left").setStyle(tickLength=0)
        self.bars = pg.BarGraphItem(x0=[], y=[], height=0.6, width=[], brushes=[])
        self.addItem(self.bars)

    def show_top(self, top: list[tuple[str, float]], decision: str, cue: str = "gait") -> None:
        top = top[:5]
        self.setLabel("bottom", "gait cosine score" + (" (ranked by gait + body shape)" if cue == "gait+shape" else ""))
        ys = list(range(len(top)))[::-1]
        brushes = [pg.mkBrush(*[int(255 * c) for c in identity_colour(n if n == decision else "unknown")])
                   for n, _ in top]
        self.bars.setOpts(x0=[0] * len(top), y=ys, width=[max(s, 0) for _, s in top], brushes=brushes)
        self.getAxis("left").setTicks([[(y, f"{n} {s:.2f}") for y, (n, s) in zip(ys, top)]])
        self.setYRange(-0.5, 4.5)


class GalleryDialog(QtWidgets.QDialog):
    """The enrolled people: list, rename, remove (confirmed), export."""

    def __init__(self, client: EngineClient, parent=None):
        super().__init__(parent)
        self.client = client
        self.setWindowTitle("Gallery")
        self.list = QtWidgets.QListWidget()
        buttons = QtWidgets.QHBoxLayout()
        for text, slot in (("Rename…", self.rename), ("Remove…", self.remove), ("Export…", self.export),
                           ("Close", self.accept)):
            b = QtWidgets.QPushButton(text)
            b.clicked.connect(slot)
            buttons.addWidget(b)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.list)
        layout.addLayout(buttons)
        self.refresh()

    def refresh(self) -> None:
        reply = self.client.request("list")
        self.list.clear()
        if not reply.get("ok"):
            self.list.addItem(f"(engine: {reply.get('error')})")
            return
        for p in reply["people"]:
            item = QtWidgets.QListWidgetItem(f"{p['name']}  ({p['enrollments']} enrollments)")
            item.setData(QtCore.Qt.UserRole, p["name"])
            self.list.addItem(item)

    def _selected(self) -> str | None:
        item = self.list.currentItem()
        return item.data(QtCore.Qt.UserRole) if item is not None else None

    def _report(self, reply: dict) -> None:
        if not reply.get("ok"):
            QtWidgets.QMessageBox.warning(self, "Gallery", reply.get("error", "failed"))
        self.refresh()

    def rename(self) -> None:
        old = self._selected()
        if old is None:
            return
        new, ok = QtWidgets.QInputDialog.getText(self, "Rename", f"New name for {old}:", text=old)
        if ok and new.strip() and new.strip() != old:
            self._report(self.client.request("rename", old=old, new=new.strip()))

    def remove(self, confirm: bool = True) -> None:
        name = self._selected()
        if name is None:
            return
        if confirm and QtWidgets.QMessageBox.question(
                self, "Remove", f"Remove {name} and every stored embedding and skeleton of them for good?"
        ) != QtWidgets.QMessageBox.Yes:
            return
        self._report(self.client.request("remove", name=name))

    def export(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export gallery", "gallery.json", "JSON (*.json)")
        if path:
            self.export_to(path)

    def export_to(self, path: str) -> None:
        """The engine writes the export (mode 0600: biometric data) where the user chose."""
        self._report(self.client.request("export", path=str(Path(path).resolve()), timeout=10))


class MainWindow(QtWidgets.QMainWindow):
    """See the module docstring. ``frames`` is the endpoint the engine reads sensors from (the
    app binds it for the sources it starts); None when attached to an engine it did not start."""

    def __init__(self, client: EngineClient, frames: str | None = None, title: str = "skelstream"):
        super().__init__()
        self.client, self.frames = client, frames
        self.source: Player | subprocess.Popen | None = None
        self.selected: Key | None = None
        self.enroll_job: dict | None = None
        self.setWindowTitle(title)
        self.resize(1400, 860)
        self.scene = SceneView()
        self.setCentralWidget(self.scene)
        self._build_panels()
        self._build_toolbar()
        self.status_label = QtWidgets.QLabel("waiting for the engine…")
        self.statusBar().addPermanentWidget(self.status_label, 1)
        self.poll_timer = QtCore.QTimer(self, interval=15, timeout=self._poll)
        self.draw_timer = QtCore.QTimer(self, interval=33, timeout=self.redraw)
        self.poll_timer.start()
        self.draw_timer.start()

    # --- layout --------------------------------------------------------------------------
    def _build_panels(self) -> None:
        self.table = QtWidgets.QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["track", "identity", "score", "walked", "action (score)"])
        self.table.horizontalHeader().setSectionResizeMode(QtWidgets.QHeaderView.Stretch)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
        self.table.itemSelectionChanged.connect(self._select_from_table)
        self.top = TopView()
        self.history = QtWidgets.QListWidget()
        enroll = QtWidgets.QWidget()
        form = QtWidgets.QGridLayout(enroll)
        self.enroll_name = QtWidgets.QLineEdit(placeholderText="name of the selected person")
        self.enroll_seconds = QtWidgets.QSpinBox(minimum=2, maximum=60, value=6, suffix=" s")
        self.enroll_button = QtWidgets.QPushButton("Enroll")
        self.enroll_button.clicked.connect(self.start_enrollment)
        self.enroll_progress = QtWidgets.QProgressBar()
        form.addWidget(self.enroll_name, 0, 0, 1, 2)
        form.addWidget(self.enroll_seconds, 1, 0)
        form.addWidget(self.enroll_button, 1, 1)
        form.addWidget(self.enroll_progress, 2, 0, 1, 2)
        side = QtWidgets.QWidget()
        col = QtWidgets.QVBoxLayout(side)
        self.table.setMinimumHeight(170)
        self.top.setMinimumHeight(170)
        self.history.setMaximumHeight(90)
        for title, widget, stretch in (("Tracks", self.table, 3), ("Top matches of the selected track", self.top, 3),
                                       ("Decision history", self.history, 0), ("Enroll", enroll, 0)):
            box = QtWidgets.QGroupBox(title)
            QtWidgets.QVBoxLayout(box).addWidget(widget)
            col.addWidget(box, stretch)
        dock = QtWidgets.QDockWidget("Identities", self)
        dock.setWidget(side)
        dock.setMinimumWidth(380)
        self.addDockWidget(QtCore.Qt.RightDockWidgetArea, dock)
        self.attention = AttentionView()
        adock = QtWidgets.QDockWidget("Attention of the newest gait window (selected track)", self)
        adock.setWidget(self.attention)
        adock.setMinimumHeight(220)
        self.addDockWidget(QtCore.Qt.BottomDockWidgetArea, adock)

    def _build_toolbar(self) -> None:
        bar = self.addToolBar("Source")
        bar.setMovable(False)
        self.source_box = QtWidgets.QComboBox()
        self.source_box.addItems(["Replay files…", "Synthetic walkers", "MediaPipe: camera 0", "MediaPipe: video file…",
                                  "Kinect v2 (Windows)"])
        start = QtWidgets.QPushButton("Start source")
        start.clicked.connect(lambda: self.start_source(self.source_box.currentIndex()))
        start.setEnabled(self.frames is not None)
        self.source_box.setEnabled(self.frames is not None)
        bar.addWidget(self.source_box)
        bar.addWidget(start)
        bar.addSeparator()
        self.play_button = QtWidgets.QPushButton("Pause")
        self.play_button.clicked.connect(self.toggle_play)
        self.seek = QtWidgets.QSlider(QtCore.Qt.Horizontal, minimum=0, maximum=1000)
        self.seek.setMinimumWidth(240)
        self.seek.sliderReleased.connect(lambda: self._player() and self._player().seek(
            self.seek.value() / 1000 * self._player().duration))
        self.speed = QtWidgets.QComboBox()
        self.speed.addItems(["0.25x", "0.5x", "1x", "2x", "4x"])
        self.speed.setCurrentText("1x")
        self.speed.currentTextChanged.connect(lambda s: self._player() and setattr(self._player(), "speed", float(s[:-1])))
        self.loop = QtWidgets.QCheckBox("loop", checked=True)
        self.loop.toggled.connect(lambda on: self._player() and setattr(self._player(), "loop", on))
        self.position = QtWidgets.QLabel("--:-- / --:--")
        for w in (self.play_button, self.seek, self.position, self.speed, self.loop):
            bar.addWidget(w)
        bar.addSeparator()
        gallery = QtWidgets.QPushButton("Gallery…")
        gallery.clicked.connect(lambda: GalleryDialog(self.client, self).exec())
        bar.addWidget(gallery)
        self._replay_controls(False)

    def _replay_controls(self, on: bool) -> None:
        for w in (self.play_button, self.seek, self.speed, self.loop):
            w.setEnabled(on)

    # --- sources -------------------------------------------------------------------------
    def _player(self) -> Player | None:
        return self.source if isinstance(self.source, Player) else None

    def stop_source(self) -> None:
        if isinstance(self.source, Player):
            self.source.close()
        elif isinstance(self.source, subprocess.Popen) and self.source.poll() is None:
            self.source.terminate()
            try:
                self.source.wait(5)
            except subprocess.TimeoutExpired:
                self.source.kill()
        self.source = None
        self._replay_controls(False)

    def play(self, paths: list[str], bodies: bool = False, speed: float = 1.0) -> Player:
        """Replay files into the engine (replaces the current source)."""
        self.stop_source()
        self.source = Player(Publisher(self.frames), paths, speed=speed, loop=self.loop.isChecked(),
                             bodies=bodies).start()
        self._replay_controls(True)
        self.play_button.setText("Pause")
        return self.source

    def start_source(self, index: int) -> None:
        try:
            if index == 0:
                paths, _ = QtWidgets.QFileDialog.getOpenFileNames(self, "Replay", "", "Recordings and skeleton files (*)")
                if paths:
                    self.play(paths)
                return
            args = {1: ["synthetic", "--walkers", "4"], 2: ["mediapipe", "0"], 4: ["kinect"]}.get(index)
            if index == 3:
                path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Video", "", "Videos (*.mp4 *.avi *.mov *.mkv)")
                if not path:
                    return
                args = ["mediapipe", path]
            self.stop_source()
            self.source = subprocess.Popen([sys.executable, "-m", "engine.cli", "sensor", *args, "--endpoint",
                                            self.frames, "--quiet"], stdout=subprocess.PIPE,
                                           stderr=subprocess.STDOUT, text=True)
            QtCore.QTimer.singleShot(1500, self._check_source)
        except (OSError, ValueError) as exc:
            QtWidgets.QMessageBox.warning(self, "Source", str(exc))

    def _check_source(self) -> None:
        proc = self.source
        if isinstance(proc, subprocess.Popen) and proc.poll() is not None:
            out = proc.stdout.read().strip().splitlines()
            QtWidgets.QMessageBox.warning(self, "Source", "The source stopped:\n" + "\n".join(out[-6:]))
            self.source = None

    def toggle_play(self) -> None:
        player = self._player()
        if player is not None:
            player.paused = not player.paused
            self.play_button.setText("Play" if player.paused else "Pause")

    # --- enrollment ----------------------------------------------------------------------
    def start_enrollment(self) -> None:
        name = self.enroll_name.text().strip()
        if self.selected is None or not name:
            QtWidgets.QMessageBox.information(self, "Enroll", "Select a track and type a name first.")
            return
        seconds = self.enroll_seconds.value()
        reply = self.client.request("enroll", sensor=self.selected[0], track=self.selected[1], name=name,
                                    seconds=seconds)
        if not reply.get("ok"):
            QtWidgets.QMessageBox.warning(self, "Enroll", reply.get("error", "failed"))
            return
        self.enroll_job = {"name": name, "start": time.monotonic(), "seconds": seconds}
        self.enroll_button.setEnabled(False)

    def _enrollment_progress(self) -> None:
        job = self.enroll_job
        if job is None:
            return
        done = (time.monotonic() - job["start"]) / job["seconds"]
        self.enroll_progress.setValue(min(99, int(100 * done)))
        if done >= 1 and not self.client.status.get("enrolling"):
            reply = self.client.request("list")
            names = {p["name"] for p in reply.get("people", [])}
            if job["name"] in names:
                self.enroll_progress.setValue(100)
                self.statusBar().showMessage(f"enrolled {job['name']}", 5000)
                self.enroll_job = None
                self.enroll_button.setEnabled(True)
            elif done > 3:
                self.statusBar().showMessage(f"enrollment of {job['name']} failed: the track was lost", 8000)
                self.enroll_job = None
                self.enroll_button.setEnabled(True)

    # --- updates -------------------------------------------------------------------------
    def _poll(self) -> None:
        self.client.poll(budget=0.008)

    def _select_from_table(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if rows:
            item = self.table.item(rows[0].row(), 0)
            self.selected = item.data(QtCore.Qt.UserRole) if item is not None else None

    def select(self, key: Key) -> None:
        self.selected = key

    def redraw(self) -> None:
        c = self.client
        c.forget_gone()
        names = {k: i.decision for k, i in c.identities.items()}
        actions = {k: f"{i.action} {i.action_score:.2f}" for k, i in c.identities.items() if i.action}
        sel = c.identities.get(self.selected) if self.selected else None  # halos on the selected track only
        glimpsed = {self.selected: glimpsed_joints(sel.glimpses)} if sel is not None and sel.glimpses else {}
        self.scene.draw(c.bodies, names, actions, glimpsed)
        self._fill_table()
        ident = c.identities.get(self.selected) if self.selected else None
        if self.selected not in c.bodies and c.bodies and (ident is None):
            self.selected = sorted(c.bodies)[0]
            ident = c.identities.get(self.selected)
        self.attention.show_matrix(None if ident is None else ident.attention)
        self.top.show_top([] if ident is None else ident.top, "" if ident is None else ident.decision,
                          "gait" if ident is None else ident.cue)
        hist = [] if ident is None else [f"{time.strftime('%H:%M:%S', time.localtime(time.time() - (time.monotonic() - t)))}"
                                         f"  {d}" for t, d in ident.history]
        if [self.history.item(i).text() for i in range(self.history.count())] != hist[::-1]:
            self.history.clear()
            self.history.addItems(hist[::-1])
        self._enrollment_progress()
        self._status_line()
        player = self._player()
        if player is not None:
            if not self.seek.isSliderDown():
                self.seek.setValue(int(1000 * player.position / max(player.duration, 1e-6)))
            self.position.setText(f"{player.position:5.1f} / {player.duration:.1f} s")

    def _fill_table(self) -> None:
        c = self.client
        keys = sorted(c.bodies)
        if self.table.rowCount() != len(keys):
            self.table.setRowCount(len(keys))
        for row, key in enumerate(keys):
            ident = c.identities.get(key)
            cells = [f"{key[0]}/{key[1]}", ident.decision if ident else "…",
                     f"{ident.score:.3f}" if ident else "", f"{ident.seconds:.1f} s" if ident else "",
                     f"{ident.action} ({ident.action_score:.2f})" if ident and ident.action else ""]
            for col, text in enumerate(cells):
                item = self.table.item(row, col)
                if item is None:
                    item = QtWidgets.QTableWidgetItem()
                    self.table.setItem(row, col, item)
                if item.text() != text:
                    item.setText(text)
                if col == 0:
                    item.setData(QtCore.Qt.UserRole, key)
            r, g, b = identity_colour(ident.decision if ident else "unknown")
            self.table.item(row, 1).setForeground(QtGui.QColor.fromRgbF(r, g, b))
            if key == self.selected and not self.table.item(row, 0).isSelected():
                self.table.blockSignals(True)
                self.table.selectRow(row)
                self.table.blockSignals(False)

    def _status_line(self) -> None:
        c, s = self.client, self.client.status
        if not c.connected:
            self.status_label.setText(f"engine not connected ({c.results}); retrying…")
            self.status_label.setStyleSheet("color: #e06c6c")
            return
        self.status_label.setStyleSheet("")
        draw = np.median(self.scene.draw_ms[-60:]) if self.scene.draw_ms else 0.0
        self.status_label.setText(
            f"sensor {c.sensor_fps():.0f} fps · {s.get('tracks', 0)} tracks · latency p50 "
            f"{s.get('latency_ms_p50', 0):.0f} / p99 {s.get('latency_ms_p99', 0):.0f} ms · missing "
            f"{s.get('missing', 0)} · rejected {sum(s.get('rejected', {}).values())} · {s.get('device', '?')} "
            f"{str(s.get('backend', '?')).split(' ')[0]} · "
            f"{s.get('checkpoint', '?')} · {s.get('people', 0)} enrolled{cohort_note(s.get('cohort'))}"
            f"{' · ranked by gait + body shape' if s.get('shape') else ''} · "
            f"redraw {draw:.1f} ms")

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self.poll_timer.stop()
        self.draw_timer.stop()
        self.stop_source()
        super().closeEvent(event)

