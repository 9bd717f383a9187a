"""Gait windows from walk datasets, the re-ID splits, and LCL's consecutive batches."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from engine.datasets import Dataset, open_dataset
from engine.datasets.cache import extract
from engine.missing import SENSOR_JOINTS, fill_missing
from engine.models.sge_la import INPUT_JOINTS, prepare_windows
from engine.sequence import resample

FPS = 30.0  # every gait checkpoint's rate: sequences are resampled to it before windows are cut


@dataclass
class Walks:
    """Windows of many walks: windows [N, f, J, 3], and per window its walk index and person.

    Windows of one walk are contiguous and in time order; ``walk_person[w]`` names walk w's
    person, ``walk_id[w]`` its dataset item (e.g. ``Person001/2``).
    """

    windows: np.ndarray
    walk: np.ndarray
    walk_person: list[str]
    walk_id: list[str]

    @property
    def person(self) -> np.ndarray:
        """Person of each window, [N] str."""
        return np.asarray(self.walk_person)[self.walk]

    def rows(self, walks: list[int]) -> np.ndarray:
        """Indices of the windows of these walks, walk after walk."""
        return np.concatenate([np.flatnonzero(self.walk == w) for w in walks])

    def subset(self, walks: list[int]) -> "Walks":
        """Only these walks (renumbered in the given order)."""
        keep = [np.flatnonzero(self.walk == w) for w in walks]
        return Walks(np.concatenate([self.windows[k] for k in keep]),
                     np.concatenate([np.full(len(k), i) for i, k in enumerate(keep)]),
                     [self.walk_person[w] for w in walks], [self.walk_id[w] for w in walks])


def walk_dataset(name: str, root: str = "", limit_people: int = 0, progress: bool = True) -> Dataset:
    """The walk dataset ``name`` (extracted from the shared archives unless ``root`` is given),
    restricted to its first ``limit_people`` people when that is not 0."""
    ds = open_dataset(root or extract(name, progress=progress))
    if limit_people:
        keep = set(ds.values("subject")[:limit_people])
        ds = ds.filter(lambda m: m["subject"] in keep)
    return ds


def load_walks(ds: Dataset, length: int, trim: int = 10, step: int | None = None,
               progress: bool = True, transform=None, **options) -> Walks:
    """Cut every walk of ``ds`` into model windows (see `prepare_windows`); the first and last
    ``trim`` frames are dropped, as in the paper's protocol. Sequences are first resampled to
    `FPS` (`engine.sequence.resample`; a no-op for KGBD's 30 Hz walks). ``transform(seq, item)``, when
    given, returns a changed sequence first (robustness tests); ``options`` go to
    `prepare_windows` (``upright``, ``common_joints``, ``shared_joints``)."""
    windows, walk, persons, ids = [], [], [], []
    for it in tqdm(ds.items, desc=f"windows of {ds.name}", disable=None if progress else True, leave=False):
        seq = ds.read(it.path)
        if transform is not None:
            seq = transform(seq, it)
        seq = resample(seq, FPS)  # windows span the same time whatever the file's rate (KGBD: as it is)
        w = prepare_windows(seq.joints, seq.confidence, seq.layout, length, step, trim, **options)
        if len(w) == 0:
            continue
        walk.append(np.full(len(w), len(persons)))
        windows.append(w)
        persons.append(it.meta["subject"])
        ids.append(f"{it.meta['subject']}/{it.meta.get('walk', it.path.stem)}")
    return Walks(np.concatenate(windows), np.concatenate(walk), persons, ids)


def input_meta(config: dict, length: int) -> dict:
    """A gait checkpoint's ``input`` metadata: joints, window and normalisation, from the run's
    config (``upright``, ``common_joints``, ``shared_joints``)."""
    norm = ("canonical joints; " + ("only the joints every sensor gives (hands at the wrists, feet at the "
                                    "ankles); " if config["shared_joints"] else "")
            + ("spine joints from hips and shoulders; " if config["common_joints"] else "")
            + ("per walk: levelled (mean torso axis along +y); " if config["upright"] else "")
            + "per window: first-frame SpineBase at the origin, rotated about y to face -z; metres")
    return {"joints": list(INPUT_JOINTS), "window": length, "fps": FPS, "upright": config["upright"],
            "common_joints": config["common_joints"], "shared_joints": config["shared_joints"], "normalisation": norm}


def holdout_split(walks: Walks, seed: int) -> tuple[list[int], list[int]]:
    """The paper's KGBD protocol: one walk of each person (with 2+ walks) at random for the
    probe, the others for training/gallery. Returns (train walks, probe walks)."""
    rng = np.random.default_rng(seed)
    by_person: dict[str, list[int]] = {}
    for w, p in enumerate(walks.walk_person):
        by_person.setdefault(p, []).append(w)
    train, probe = [], []
    for p in sorted(by_person):
        ws = by_person[p]
        if len(ws) < 2:
            train += ws
            continue
        held = ws[rng.integers(len(ws))]
        probe.append(held)
        train += [w for w in ws if w != held]
    return train, probe


def people_split(walks: Walks, seed: int, fraction: float = 0.5) -> tuple[list[int], list[int]]:
    """Open-world protocol: walks of a random ``fraction`` of the people (for pretraining) and
    the walks of all the others (never seen in training)."""
    rng = np.random.default_rng(seed)
    people = sorted(set(walks.walk_person))
    chosen = set(rng.permutation(people)[: int(round(len(people) * fraction))])
    seen = [w for w, p in enumerate(walks.walk_person) if p in chosen]
    unseen = [w for w, p in enumerate(walks.walk_person) if p not in chosen]
    return seen, unseen


def tracklet_split(walks: Walks, seed: int) -> tuple[list[int], list[int], list[int]]:
    """The probe/gallery protocol of the later skeleton re-ID papers on KGBD (TranSG, SimMC,
    Hi-MPC): per person with 3+ walks, two random walks form the gallery and one the probe; all
    the other walks train. Returns (train, gallery, probe) walks."""
    rng = np.random.default_rng(seed)
    by_person: dict[str, list[int]] = {}
    for w, p in enumerate(walks.walk_person):
        by_person.setdefault(p, []).append(w)
    train, gallery, probe = [], [], []
    for p in sorted(by_person):
        ws = by_person[p]
        if len(ws) < 3:
            train += ws
            continue
        order = [ws[k] for k in rng.permutation(len(ws))]
        gallery += sorted(order[:2])
        probe.append(order[2])
        train += sorted(order[3:])
    return train, gallery, probe


def pk_batches(walks: Walks, people: int, clips: int, count: int, rng: np.random.Generator):
    """``count`` batches of ``people`` random people x ``clips`` random windows each (the P x K
    batches of a triplet loss; a person with fewer windows gives some twice). Yields window indices."""
    by_person = [np.flatnonzero(walks.person == p) for p in dict.fromkeys(walks.walk_person)]
    by_person = [idx for idx in by_person if len(idx)]
    for _ in range(count):
        chosen = rng.choice(len(by_person), size=min(people, len(by_person)), replace=False)
        yield np.concatenate([rng.choice(by_person[c], size=clips, replace=len(by_person[c]) < clips)
                              for c in chosen])


def open_world_split(walks: Walks, pretrain_seed: int) -> tuple[list[int], list[int]]:
    """Gallery and probe walks among the people NOT used for pretraining with ``pretrain_seed``."""
    _, unseen = people_split(walks, pretrain_seed)
    sub = walks.subset(unseen)
    gallery, probe = holdout_split(sub, pretrain_seed)
    return [unseen[w] for w in gallery], [unseen[w] for w in probe]


PROTOCOLS = ("holdout", "open", "tracklets")


def protocol_walks(walks: Walks, protocol: str, seed: int) -> tuple[list[int], list[int], list[int]]:
    """(training, gallery, probe) walks of a gait protocol: ``holdout`` (the paper's: one walk per
    person is the probe, the others train and are the gallery), ``open`` (half of the people
    train; the other half's walks are gallery and probe) or ``tracklets`` (two walks per person
    are the gallery, one the probe, the rest train)."""
    if protocol == "holdout":
        train, probe = holdout_split(walks, seed)
        return train, train, probe
    if protocol == "open":
        return (people_split(walks, seed)[0], *open_world_split(walks, seed))
    if protocol == "tracklets":
        return tracklet_split(walks, seed)
    raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")


def validation_split(walks: Walks, seed: int, fraction: float = 0.1) -> tuple[list[int], list[int]]:
    """Carve validation walks from training walks (a ``fraction`` of walks at random, never a
    person's last walk: everyone keeps one to fit on): (fit walks, validation walks)."""
    rng = np.random.default_rng(seed + 7919)
    n = len(walks.walk_person)
    counts: dict[str, int] = {}
    for p in walks.walk_person:
        counts[p] = counts.get(p, 0) + 1
    want, val = max(1, int(round(n * fraction))), []
    for w in rng.permutation(n):  # in random order, never a person's last walk left for fitting
        if len(val) == want:
            break
        if counts[walks.walk_person[w]] > 1:
            counts[walks.walk_person[w]] -= 1
            val.append(int(w))
    val = sorted(val)
    return [w for w in range(n) if w not in set(val)], val


def consecutive_batches(walks: Walks, size: int, rng: np.random.Generator):
    """Batches of ``size`` consecutive windows of one person (LCL's batches, Algorithm 1).

    Each person's windows are taken in walk order; every batch starts at a random offset
    of a random person, and an epoch yields about N / size batches. Yields window indices.
    """
    by_person: dict[str, np.ndarray] = {}
    person = walks.person
    for p in dict.fromkeys(walks.walk_person):
        by_person[p] = np.flatnonzero(person == p)
    people = [p for p, idx in by_person.items() if len(idx) >= 2]
    weights = np.array([len(by_person[p]) for p in people], float)
    for _ in range(max(1, len(walks.windows) // size)):
        idx = by_person[people[rng.choice(len(people), p=weights / weights.sum())]]
        start = rng.integers(0, max(1, len(idx) - size + 1))
        yield idx[start:start + size]


# What `drop_sensor_joints` removes: the model joints that other sensors lack, and limbs' ends
# lost at random (each with p 0.3), or one joint lost in a random run of frames (tracking loss).
DROP_PROFILES = ("export18", "openni15", "distal", "frames")
_DISTAL = tuple(f"{j}{s}" for j in ("Wrist", "Hand", "Ankle", "Foot") for s in ("Left", "Right"))


def drop_sensor_joints(windows: np.ndarray, rng: np.random.Generator, p: float) -> np.ndarray:
    """Model windows ``[N, f, 20, 3]`` where each window, with probability ``p``, loses the
    joints of a random `DROP_PROFILES` entry, filled as at inference (`fill_missing`); the
    others are returned unchanged. Training with it teaches the encoder the windows of sensors
    with fewer joints (the reconstruction target stays the full window)."""
    out = windows.copy()
    n, f, j, _ = windows.shape
    for i in np.flatnonzero(rng.random(n) < p):
        conf = np.ones((f, j), np.float32)
        profile = DROP_PROFILES[rng.integers(len(DROP_PROFILES))]
        if profile in SENSOR_JOINTS:
            conf[:, [k for k, name in enumerate(INPUT_JOINTS) if name not in SENSOR_JOINTS[profile]]] = 0
        elif profile == "distal":
            conf[:, [INPUT_JOINTS.index(d) for d in _DISTAL if rng.random() < 0.3]] = 0
        else:
            start = rng.integers(f)
            conf[start:start + rng.integers(1, f + 1), rng.integers(j)] = 0
        out[i] = fill_missing(windows[i], conf, INPUT_JOINTS)[0]
    return out
