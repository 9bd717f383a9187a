"""The cached window encodings of these scripts as one .npz (no pickle): per group of sequences,
their concatenated window encodings with the row count of each, and per sequence its person,
group, action (or ""), bone lengths and frame count."""
import numpy as np


def save(path: str, groups: dict[str, list[dict]]) -> None:
    out = {}
    for name, items in groups.items():
        out[f"{name}/raw"] = np.concatenate([d["raw"] for d in items])
        out[f"{name}/rows"] = np.array([len(d["raw"]) for d in items])
        out[f"{name}/bones"] = np.stack([d["bones"] for d in items])
        out[f"{name}/n"] = np.array([d["n"] for d in items])
        for key in ("person", "group", "action"):
            out[f"{name}/{key}"] = np.array([str(d.get(key, "")) for d in items])
    np.savez(path, **out)


def load(path: str) -> dict[str, list[dict]]:
    z = np.load(path, allow_pickle=False)
    names = sorted({k.split("/")[0] for k in z.files})
    groups = {}
    for name in names:
        raw = np.split(z[f"{name}/raw"], np.cumsum(z[f"{name}/rows"])[:-1])
        groups[name] = [dict(raw=r, bones=b, n=int(n), person=str(p), group=str(g), action=str(a))
                        for r, b, n, p, g, a in zip(raw, z[f"{name}/bones"], z[f"{name}/n"], z[f"{name}/person"],
                                                    z[f"{name}/group"], z[f"{name}/action"])]
    return groups
