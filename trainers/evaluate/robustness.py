"""Robustness of gait re-ID to the sensor: walking direction, tilt and roll, noise, joint set.

KGBD's walks were all filmed by one level Kinect v1 on a semicircle. Users' sensors sit higher
and look down, are held crooked, see people from any side, and some (MediaPipe) have a
different joint set. This re-runs gallery matching of a checkpoint's split (`reid`) with the
probe walks changed as such a sensor would change them; the gallery stays as recorded.

Conditions (each applied to every probe walk):
- ``reference``: unchanged;
- ``yaw90``: the walk turned by 90 degrees about the vertical (walking across instead of along);
- ``pitch10/20/30``: the sensor tilted down by 10/20/30 degrees (rotation about x);
- ``roll10``: the sensor rolled by 10 degrees (rotation about z);
- ``noise1cm``: independent Gaussian noise of 1 cm on every joint coordinate;
- ``mediapipe_joints``: the spine joints made as the MediaPipe layout makes them (SpineBase the
  mean of the hips, SpineShoulder of the shoulders, SpineMid of both), since MediaPipe has no
  spine landmarks;
- ``joints_kinect_v1`` / ``joints_export18`` / ``joints_openni15``: only the joints that sensor
  gives (`engine.missing.SENSOR_JOINTS`); the others are missing (confidence 0, coordinates 0 as
  a reader stores them) and filled by `engine.missing.fill_missing` like any missing joint.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from engine.checkpoint import load_gait
from engine.embed import window_features
from engine.missing import SENSOR_JOINTS, reduce_joints
from engine.sequence import SkeletonSequence
from engine.models.sge_la import window_options
from engine.skeleton import KINECT_V2, common_spine, to_canonical
from trainers.evaluate.reid import encode, gallery_matching, walk_means
from trainers.gait_data import load_walks, protocol_walks, walk_dataset


def _rotation(axis: str, degrees: float) -> np.ndarray:
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    return {"x": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]),
            "y": np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
            "z": np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])}[axis]


def _rotate(axis: str, degrees: float):
    rot = _rotation(axis, degrees).astype(np.float32)

    def apply(seq: SkeletonSequence, _item) -> SkeletonSequence:
        # A sensor turned by R sees the world turned by R^-1; either sign is a valid test.
        return SkeletonSequence(seq.joints @ rot.T, seq.confidence, seq.timestamps, seq.layout, seq.fps, seq.meta)
    return apply


def _noise(sigma: float):
    def apply(seq: SkeletonSequence, item) -> SkeletonSequence:
        rng = np.random.default_rng(abs(hash(str(item.path))) % 2**32)
        joints = seq.joints + rng.normal(0, sigma, seq.joints.shape).astype(np.float32)
        return SkeletonSequence(joints, seq.confidence, seq.timestamps, seq.layout, seq.fps, seq.meta)
    return apply


def _mediapipe_joints(seq: SkeletonSequence, _item) -> SkeletonSequence:
    joints, conf, _ = to_canonical(seq.joints, seq.confidence, seq.layout)
    return SkeletonSequence(common_spine(joints), conf, seq.timestamps, KINECT_V2, seq.fps, seq.meta)


def _joint_set(sensor: str):
    def apply(seq: SkeletonSequence, _item) -> SkeletonSequence:
        joints, conf, _ = to_canonical(seq.joints, seq.confidence, seq.layout)
        conf = reduce_joints(conf, SENSOR_JOINTS[sensor])
        return SkeletonSequence(np.where(conf[..., None] > 0, joints, 0.0).astype(np.float32), conf,
                                seq.timestamps, KINECT_V2, seq.fps, seq.meta)
    return apply


CONDITIONS = {
    "reference": None,
    "yaw90": _rotate("y", 90),
    "pitch10": _rotate("x", 10),
    "pitch20": _rotate("x", 20),
    "pitch30": _rotate("x", 30),
    "roll10": _rotate("z", 10),
    "noise1cm": _noise(0.01),
    "mediapipe_joints": _mediapipe_joints,
    **{f"joints_{s}": _joint_set(s) for s in ("kinect_v1", "export18", "openni15")},
}


def evaluate(checkpoint: str, conditions: list[str], upright: bool | None = None, data_root: str = "",
             device: str = "cpu") -> dict:
    """Gallery-matching figures of ``checkpoint`` on its split, for each condition of the probes.

    ``upright`` None follows the checkpoint (``input.upright``); True/False forces the levelling
    on or off at inference (to see what it does for a model trained without it)."""
    model, meta = load_gait(checkpoint, device=device)
    train = meta["training"]
    length = int(meta["input"]["window"])
    options = window_options(meta["input"])
    if upright is not None:
        options["upright"] = upright
    level = options["upright"]
    ds = walk_dataset(train["dataset"], data_root or train.get("root", ""), train.get("limit_people", 0))
    walks = load_walks(ds, length, **options)
    seed = int(train["split_seed"])
    _, gallery_ids, probe_ids = protocol_walks(walks, train["protocol"], seed)
    gal = walks.subset(gallery_ids)
    g_walk = walk_means(window_features(model, encode(model, gal.windows)["sequence"]), gal.walk, len(gallery_ids))
    g_person = np.asarray(gal.walk_person)
    probe_set = {walks.walk_id[w] for w in probe_ids}
    probe_items = [it for it in ds.items
                   if f"{it.meta['subject']}/{it.meta.get('walk', it.path.stem)}" in probe_set]
    probe_ds = type(ds)(ds.root, probe_items)
    out = {"checkpoint": str(checkpoint), "upright": level, "protocol": train["protocol"], "split_seed": seed,
           "conditions": {}}
    for name in conditions:
        prb = load_walks(probe_ds, length, transform=CONDITIONS[name], **options)
        seq = window_features(model, encode(model, prb.windows)["sequence"])
        p_person = np.asarray(prb.walk_person)
        out["conditions"][name] = {
            "per_window": gallery_matching(seq, prb.person, g_walk, g_person),
            "per_walk": gallery_matching(walk_means(seq, prb.walk, len(prb.walk_person)), p_person,
                                         g_walk, g_person)}
        r = out["conditions"][name]
        print(f"{name:<18} per walk Rank-1 {r['per_walk']['rank1']:5.1f}  mAP {r['per_walk']['map']:5.1f}   "
              f"per window Rank-1 {r['per_window']['rank1']:5.1f}", flush=True)
    return out


def plot(results: list[dict], path: Path) -> None:
    """Per-walk Rank-1 under each condition, one bar group per result (e.g. upright off/on)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results[0]["conditions"])
    fig, ax = plt.subplots(figsize=(1.1 * len(names) + 2, 3.6))
    width = 0.8 / len(results)
    for k, res in enumerate(results):
        vals = [res["conditions"][n]["per_walk"]["rank1"] for n in names]
        ax.bar(np.arange(len(names)) + k * width, vals, width,
               label=f"{Path(res['checkpoint']).parent.name}, upright {'on' if res['upright'] else 'off'}")
    ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2, names, rotation=20)
    ax.set_ylabel("Rank-1 per walk (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    ax.set_title("Gallery matching with changed probe walks (gallery unchanged)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="skelstream eval robustness", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="gait checkpoint (its split and protocol come from its metadata)")
    p.add_argument("--conditions", nargs="+", default=list(CONDITIONS), choices=list(CONDITIONS),
                   metavar="NAME", help=f"conditions to run (default: all of {', '.join(CONDITIONS)})")
    p.add_argument("--upright", choices=["checkpoint", "on", "off", "both"], default="checkpoint",
                   help="level each sequence first: as the checkpoint was trained (default), forced on "
                        "or off, or both one after the other")
    p.add_argument("--data-root", default="", help="dataset root (default: the extracted shared archive)")
    p.add_argument("--device", default="cpu")
    p.add_argument("-o", "--out", help="folder for robustness.json and robustness.png")
    args = p.parse_args(argv)
    modes = {"checkpoint": [None], "on": [True], "off": [False], "both": [False, True]}[args.upright]
    results = [evaluate(args.checkpoint, args.conditions, mode, args.data_root, args.device) for mode in modes]
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "robustness.json").write_text(json.dumps(results, indent=2))
        plot(results, out / "robustness.png")


if __name__ == "__main__":
    main()
