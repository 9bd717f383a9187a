"""The gallery of enrolled people: SQLite (WAL, versioned schema, file mode 0600).

It holds biometric data, so the file is created private (0600) and everything about a person
is deleted with them. Tables:

- ``people``: id, unique name, created (unix seconds);
- ``enrollments``: one per enrolled sequence: its person, the gait embedding (float32 bytes,
  L2-normalised), the checkpoint it belongs to (name and fingerprint of the weights), the
  source (file, or ``live:<sensor>/<track>``), created, and optionally the skeleton it came from
  (canonical joints float32 [T, 25, 3], confidence [T, 25], timestamps [T]) so it can be
  re-encoded when the checkpoint changes, and its body-shape descriptor (`engine.shape`, float32
  bytes; NULL when neither a descriptor nor a skeleton was given) with its skeleton family;
- ``meta``: the schema version (3; a version-1 file gets the shape columns on opening, filled
  from the skeletons it stores, their skeleton family inferred from the joints they hold; a
  version-2 file gets the descriptors of the skeletons it stores made again, since left/right
  pairs are measured on the side nearer the sensor: `engine.shape`. An enrollment stored
  without its skeleton keeps its version-2 descriptor, the two sides' mean).

An enrollment of a person is one transaction: a process killed midway leaves no partial person.
Nothing is pickled: arrays are raw little-endian bytes with their shapes.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from engine.sequence import SkeletonSequence
from engine.skeleton import KINECT_V2

SCHEMA_VERSION = 3
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS people (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS enrollments (
    id INTEGER PRIMARY KEY,
    person INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    checkpoint TEXT NOT NULL, fingerprint TEXT NOT NULL,
    embedding BLOB NOT NULL, dim INTEGER NOT NULL,
    source TEXT NOT NULL, created REAL NOT NULL,
    frames INTEGER, joints BLOB, confidence BLOB, timestamps BLOB, shape BLOB, shape_family TEXT);
CREATE INDEX IF NOT EXISTS enrollments_person ON enrollments(person);
"""


class GalleryError(ValueError):
    """A gallery operation that cannot be done (unknown person, name taken, wrong file)."""


@dataclass
class Enrollment:
    """One enrolled sequence to store: its embedding and where it came from."""

    embedding: np.ndarray
    source: str
    skeleton: SkeletonSequence | None = None  # kept for re-encoding when given
    shape: object = None  # body shape (`engine.shape.Shapes`, one row); from the skeleton when None


@dataclass
class Person:
    name: str
    enrollments: int
    created: float
    checkpoints: list[str]


class Gallery:
    """An open gallery file; ``Gallery(path)`` creates it (mode 0600) when missing."""

    def __init__(self, path: str | Path, create: bool = True):
        self.path = Path(path)
        if not self.path.exists():
            if not create:
                raise FileNotFoundError(f"{self.path}: no gallery here")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        elif self.path.is_dir():
            raise GalleryError(f"{self.path}: a folder, not a gallery file")
        elif self.path.stat().st_size == 0 and not create:
            raise GalleryError(f"{self.path}: an empty file, not a gallery (enroll someone to make one)")
        else:
            _check_foreign(self.path)  # before anything is written to it, its mode included
        os.chmod(self.path, 0o600)
        try:
            self.db = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self.db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise GalleryError(f"{self.path}: not a skelstream gallery ({exc})") from None
        for side in ("-wal", "-shm"):  # SQLite's side files hold the same data
            p = Path(str(self.path) + side)
            if p.exists():
                os.chmod(p, 0o600)
        version = self.db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if version is None:
            self.db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        elif int(version[0]) == 1:
            self._migrate_1()
        elif int(version[0]) == 2:
            self._migrate_2()
        elif int(version[0]) != SCHEMA_VERSION:
            raise GalleryError(f"{self.path}: gallery schema {version[0]}, this skelstream reads {SCHEMA_VERSION}")

    def _migrate_1(self) -> None:
        """Schema 1 -> 3: the shape columns, filled from the stored skeletons (today's descriptor;
        their skeleton family inferred: `engine.shape.infer_family`), in one transaction."""
        from engine.shape import infer_family
        with _transaction(self.db):
            self.db.execute("ALTER TABLE enrollments ADD COLUMN shape BLOB")
            self.db.execute("ALTER TABLE enrollments ADD COLUMN shape_family TEXT")
            for eid, seq in self._skeletons():  # stored canonical: the family from what it holds
                self.db.execute("UPDATE enrollments SET shape=?, shape_family=? WHERE id=?",
                                (_shape_row(seq, None)[0], infer_family(seq.joints, seq.confidence), eid))
            self.db.execute("UPDATE meta SET value=? WHERE key='schema'", (str(SCHEMA_VERSION),))

    def _migrate_2(self) -> None:
        """Schema 2 -> 3: the body-shape descriptors of the stored skeletons made again (pairs on
        the side nearer the sensor), their families kept, in one transaction."""
        with _transaction(self.db):
            for eid, seq in list(self._skeletons("AND shape IS NOT NULL")):
                self.db.execute("UPDATE enrollments SET shape=? WHERE id=?", (_shape_row(seq, None)[0], eid))
            self.db.execute("UPDATE meta SET value=? WHERE key='schema'", (str(SCHEMA_VERSION),))

    def _skeletons(self, where: str = "", args: tuple = ()):
        """(enrollment id, stored skeleton) of the enrollments that keep one (and match ``where``)."""
        rows = self.db.execute("SELECT id, frames, joints, confidence, timestamps FROM enrollments "
                               f"WHERE frames IS NOT NULL {where}", args).fetchall()
        for eid, t, j, c, ts in rows:
            yield eid, SkeletonSequence(np.frombuffer(j, "<f4").reshape(t, 25, 3).copy(),
                                        np.frombuffer(c, "<f4").reshape(t, 25).copy(),
                                        np.frombuffer(ts, "<f8").copy(), KINECT_V2, 30.0)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "Gallery":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _person_id(self, name: str) -> int:
        row = self.db.execute("SELECT id FROM people WHERE name=?", (name,)).fetchone()
        if row is None:
            raise GalleryError(f"{self.path}: nobody called {name!r} is enrolled")
        return int(row[0])

    def enroll(self, name: str, items: Iterable[Enrollment], checkpoint: str, fingerprint: str) -> int:
        """Add ``items`` to person ``name`` (created if new), all or nothing; returns how many."""
        name = name.strip()
        if not name:
            raise GalleryError("a person needs a non-empty name")
        items = list(items)
        if not items:
            raise GalleryError(f"nothing to enroll for {name!r}")
        now = time.time()
        canonical = [it.skeleton.canonical() if it.skeleton is not None else None for it in items]
        with _transaction(self.db):
            self._refuse_copies(name, items, canonical, fingerprint)
            row = self.db.execute("SELECT id FROM people WHERE name=?", (name,)).fetchone()
            pid = row[0] if row else self.db.execute("INSERT INTO people (name, created) VALUES (?, ?)",
                                                     (name, now)).lastrowid
            for it, sk in zip(items, canonical):
                emb = np.ascontiguousarray(it.embedding, "<f4").ravel()
                shape, fam = _shape_row(it.skeleton, it.shape)
                self.db.execute(
                    "INSERT INTO enrollments (person, checkpoint, fingerprint, embedding, dim, source, created, "
                    "frames, joints, confidence, timestamps, shape, shape_family) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (pid, checkpoint, fingerprint, emb.tobytes(), len(emb), it.source, now,
                     None if sk is None else len(sk),
                     None if sk is None else np.ascontiguousarray(sk.joints, "<f4").tobytes(),
                     None if sk is None else np.ascontiguousarray(sk.confidence, "<f4").tobytes(),
                     None if sk is None else np.ascontiguousarray(sk.timestamps, "<f8").tobytes(),
                     shape, fam))
        return len(items)

    def _refuse_copies(self, name: str, items: list[Enrollment], canonical: list, fingerprint: str) -> None:
        """Refuse a recording that is already enrolled (one file enrolled twice, or under two names:
        two people the model cannot tell apart make every open-set threshold unreachable). The
        same recording is the same stored skeleton (``canonical``: each item's, or None), compared
        byte for byte by SQLite; without a skeleton, the same embedding bytes from the same checkpoint."""
        seen: dict[bytes, str] = {}  # this batch's skeletons
        for it, sk in zip(items, canonical):
            if sk is not None:
                joints = np.ascontiguousarray(sk.joints, "<f4").tobytes()
                if joints in seen:
                    raise GalleryError(f"{it.source}: the same recording as {seen[joints]}; enroll it once")
                seen[joints] = it.source
                where, args = "e.frames=? AND e.joints=?", (len(sk), joints)
            else:
                where, args = "e.fingerprint=? AND e.embedding=?", (fingerprint, np.ascontiguousarray(it.embedding, "<f4").ravel().tobytes())
            row = self.db.execute(f"SELECT p.name FROM enrollments e JOIN people p ON p.id = e.person WHERE {where}",
                                  args).fetchone()
            if row is not None:
                whose = f"{name!r} already has" if row[0] == name else f"{row[0]!r} has"
                raise GalleryError(f"{it.source}: {whose} an enrollment of this same recording; one recording "
                                   "is enrolled once, for one person")

    def people(self) -> list[Person]:
        rows = self.db.execute(
            "SELECT p.name, COUNT(e.id), p.created, GROUP_CONCAT(DISTINCT e.checkpoint) FROM people p "
            "LEFT JOIN enrollments e ON e.person = p.id GROUP BY p.id ORDER BY p.name").fetchall()
        return [Person(n, c, t, (cks or "").split(",") if cks else []) for n, c, t, cks in rows]

    def rename(self, old: str, new: str) -> None:
        pid = self._person_id(old)
        try:
            self.db.execute("UPDATE people SET name=? WHERE id=?", (new.strip(), pid))
        except sqlite3.IntegrityError:
            raise GalleryError(f"{self.path}: {new!r} is already enrolled") from None

    def remove(self, name: str) -> int:
        """Delete a person and all their enrollments and skeletons; returns enrollments removed."""
        pid = self._person_id(name)
        with _transaction(self.db):
            n = self.db.execute("DELETE FROM enrollments WHERE person=?", (pid,)).rowcount
            self.db.execute("DELETE FROM people WHERE id=?", (pid,))
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # no copy left in the WAL file
        self.db.execute("VACUUM")  # nor in free pages
        return n

    def embeddings(self, fingerprint: str) -> tuple[list[str], np.ndarray]:
        """(person name per enrollment, embeddings [N, D]) made with the checkpoint ``fingerprint``."""
        rows = self.db.execute(
            "SELECT p.name, e.embedding FROM enrollments e JOIN people p ON p.id = e.person "
            "WHERE e.fingerprint=? ORDER BY e.id", (fingerprint,)).fetchall()
        if not rows:
            return [], np.zeros((0, 0), np.float32)
        return [r[0] for r in rows], np.stack([np.frombuffer(r[1], "<f4") for r in rows])

    def shapes(self, fingerprint: str):
        """Body shapes (`engine.shape.Shapes`) in the order of `embeddings` (NaN rows: none stored)."""
        from engine.shape import FEATURES, Shapes
        rows = self.db.execute("SELECT e.shape, e.shape_family FROM enrollments e WHERE e.fingerprint=? ORDER BY e.id",
                               (fingerprint,)).fetchall()
        out = np.full((len(rows), len(FEATURES)), np.nan, np.float32)
        for i, (b, _) in enumerate(rows):
            if b is not None and len(b) == 4 * len(FEATURES):
                out[i] = np.frombuffer(b, "<f4")
        return Shapes(out, np.array([f or "" for _, f in rows], dtype=str))

    def stale(self, fingerprint: str) -> list[tuple[str, str, bool]]:
        """Enrollments of another checkpoint: (name, source, has its skeleton)."""
        return [(n, s, bool(k)) for n, s, k in self.db.execute(
            "SELECT p.name, e.source, e.frames IS NOT NULL FROM enrollments e JOIN people p ON p.id = e.person "
            "WHERE e.fingerprint<>? ORDER BY e.id", (fingerprint,))]

    def reencode(self, embed: Callable[[SkeletonSequence], np.ndarray], checkpoint: str, fingerprint: str) -> tuple[int, int]:
        """Re-encode stale enrollments from their stored skeletons with ``embed``;
        returns (re-encoded, left flagged because no skeleton was stored)."""
        stale = self.db.execute("SELECT COUNT(*) FROM enrollments WHERE fingerprint<>?", (fingerprint,)).fetchone()[0]
        done = 0
        with _transaction(self.db):
            for eid, seq in list(self._skeletons("AND fingerprint<>?", (fingerprint,))):
                emb = np.ascontiguousarray(embed(seq), "<f4").ravel()
                self.db.execute("UPDATE enrollments SET embedding=?, dim=?, checkpoint=?, fingerprint=? WHERE id=?",
                                (emb.tobytes(), len(emb), checkpoint, fingerprint, eid))
                done += 1
        return done, stale - done

    def export(self, path: str | Path) -> Path:
        """Everything stored, as JSON (names, sources, times, checkpoints, embeddings, body shapes);
        mode 0600."""
        out = []
        for p in self.people():
            rows = self.db.execute(
                "SELECT e.checkpoint, e.fingerprint, e.source, e.created, e.embedding, e.frames, e.shape, e.shape_family "
                "FROM enrollments e JOIN people p ON p.id = e.person WHERE p.name=? ORDER BY e.id", (p.name,)).fetchall()
            out.append({"name": p.name, "created": p.created, "enrollments": [
                {"checkpoint": ck, "fingerprint": fp, "source": src, "created": t, "skeleton_frames": fr,
                 "embedding": np.frombuffer(e, "<f4").round(6).tolist(),
                 "shape": None if sh is None else [None if not np.isfinite(v) else round(float(v), 5)
                                                   for v in np.frombuffer(sh, "<f4")],
                 "shape_family": fam} for ck, fp, src, t, e, fr, sh, fam in rows]})
        path = Path(path)
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"schema": SCHEMA_VERSION, "people": out}, fh, indent=1)
        return path


def _check_foreign(path: Path) -> None:
    """Refuse an existing non-empty file that is not a skelstream gallery (another program's
    database, any other file) before anything touches it."""
    if path.stat().st_size == 0:
        return
    try:
        db = sqlite3.connect(path, timeout=10)  # reading writes nothing (a WAL gallery is recovered, as on any open)
        try:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            ours = "meta" in tables and db.execute("SELECT 1 FROM meta WHERE key='schema'").fetchone() is not None
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise GalleryError(f"{path}: not a skelstream gallery ({exc})") from None
    if not ours:
        raise GalleryError(f"{path}: not a skelstream gallery (an SQLite database with tables "
                           f"{', '.join(sorted(tables)) or 'none'}); nothing was changed")


def _shape_row(skeleton: SkeletonSequence | None, shape) -> tuple[bytes | None, str | None]:
    """(descriptor bytes, family) to store: ``shape`` (`engine.shape.Shapes`) as given, else the
    skeleton's; (None, None) with neither."""
    from engine.shape import FEATURES, sequence_shape
    if shape is None and skeleton is not None:
        shape = sequence_shape(skeleton)
    if shape is None:
        return None, None
    values = np.ascontiguousarray(shape.values, "<f4").ravel()
    if len(values) != len(FEATURES):
        raise GalleryError(f"a body-shape descriptor has {len(FEATURES)} values, got {len(values)}")
    return values.tobytes(), str(shape.family[0])


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind, *_):
        self.db.execute("ROLLBACK" if kind else "COMMIT")
