"""Checkpoints: ``NAME.safetensors`` (weights) + ``NAME.json`` (everything needed to rebuild and
trust the model: method, architecture, input layout and window, normalisation, embedding size,
training data and command, metrics, git commit). Nothing is unpickled."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

DEFAULT_GAIT = Path(__file__).resolve().parent / "models" / "weights" / "gait_sge_la"
DEFAULT_ACTION = Path(__file__).resolve().parent / "models" / "weights" / "action_isc"
# the distilled student of the gait default: 3x faster live, 0.05 points lower on the validation
# domains (docs/RESULTS.md, "A fast student of the default gait encoder"); `--checkpoint fast`
FAST_GAIT = DEFAULT_GAIT.with_name("gait_fast")
BUNDLED_NAMES = {"fast": FAST_GAIT}
DEFAULT_PROTOTYPES = DEFAULT_ACTION.with_name(DEFAULT_ACTION.name + ".prototypes.safetensors")
ACTION_METHODS = ("isc", "crrl", "byol")
GAIT_METHODS = ("sge_la", "a3d", "distill")  # distill: an A3D student of another gait encoder


def git_commit() -> str:
    """The current commit of the source tree, or "unknown"."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def checkpoint_base(path: str | Path | None, default: Path | None = None) -> Path:
    """A checkpoint's path without suffix: ``default`` for None, a bundled checkpoint for its short
    name (`BUNDLED_NAMES`: ``fast``), else the path given (with or without its suffix)."""
    if not path:
        if default is None:
            raise ValueError("no checkpoint given")
        return default
    return BUNDLED_NAMES.get(str(path), Path(path).with_suffix(""))


def save(path: str | Path, module: torch.nn.Module, meta: dict) -> Path:
    """Write ``path``.safetensors and ``path``.json; returns the base path."""
    base = Path(path).with_suffix("")
    base.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    save_file(state, str(base.with_suffix(".safetensors")))
    base.with_suffix(".json").write_text(json.dumps(meta | {"git_commit": git_commit()}, indent=2))
    return base


def fingerprint(path: str | Path) -> str:
    """A short hash of a checkpoint's weights file: enrollments remember which weights made them."""
    digest = hashlib.sha256()
    with open(Path(path).with_suffix(".safetensors"), "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def read_meta(path: str | Path) -> dict:
    """The JSON metadata of a checkpoint (path with or without suffix, or a bundled name)."""
    base = checkpoint_base(path)
    meta_path = base.with_suffix(".json")
    if not meta_path.is_file():
        raise FileNotFoundError(f"{meta_path}: checkpoint metadata not found")
    try:
        meta = json.loads(meta_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{meta_path}: not a checkpoint's metadata (bad JSON: {exc})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{meta_path}: not a checkpoint's metadata (a JSON object is expected)")
    return meta


def check_device(device: str) -> torch.device:
    """``device`` as a torch device, or a clear error: an unknown name, or CUDA where there is none."""
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ValueError(f"--device {device}: not a device (cpu, cuda, cuda:N)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {device}: CUDA is not available on this machine (use --device cpu)")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"--device {device}: only cpu and cuda are supported")
    return dev


def load_weights(base: Path, device: str = "cpu") -> dict[str, torch.Tensor]:
    """The tensors of ``base``.safetensors on ``device``; a clear error naming the file when it is
    missing or not a safetensors file."""
    path = base.with_suffix(".safetensors")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint weights not found")
    check_device(device)
    try:
        return load_file(str(path), device=device)
    except SafetensorError as exc:  # truncated, garbage, too large a header
        raise ValueError(f"{path}: not a readable checkpoint ({exc})") from None


def load_into(module: torch.nn.Module, state: dict, base: Path) -> None:
    """``module.load_state_dict(state)``, with an error naming the checkpoint when they do not fit."""
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[:2]
        raise ValueError(f"{base.with_suffix('.safetensors')}: weights do not fit the architecture in "
                         f"{base.with_suffix('.json').name} ({' '.join(x.strip() for x in first)[:300]})") from None


def load_gait(path: str | Path | None = None, device: str = "cpu"):
    """The gait encoder of a checkpoint (default: the bundled one; SGE-LA or A3D, by its
    ``method``), in eval mode, with its metadata: ``(model, meta)``. Both give ``encode(windows)``
    with ``sequence`` (the matching feature), ``frames`` and ``attention``. ``model.whitening`` is
    the checkpoint's `engine.embed.Whitening` (tensors ``whiten.mean``/``whiten.proj``) or None."""
    from engine.embed import Whitening
    from engine.models.a3d import A3D, A3DConfig
    from engine.models.sge_la import SGELA, SGEConfig

    base = checkpoint_base(path, DEFAULT_GAIT)
    meta = read_meta(base)
    meta.setdefault("name", base.name)
    if meta.get("method") not in GAIT_METHODS:
        raise ValueError(f"{base}: a {meta.get('method')!r} checkpoint, not a gait encoder {GAIT_METHODS}")
    try:
        model = (SGELA(SGEConfig(**meta["architecture"])) if meta["method"] == "sge_la"
                 else A3D(A3DConfig(**meta["architecture"])))
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{base.with_suffix('.json')}: no usable 'architecture' ({exc})") from None
    weights = load_weights(base, device)
    meta["fingerprint"] = fingerprint(base)
    load_into(model, {k.removeprefix("model."): v.float() for k, v in weights.items() if k.startswith("model.")}, base)
    model.whitening = (Whitening(weights["whiten.mean"].float().cpu().numpy(), weights["whiten.proj"].float().cpu().numpy())
                       if "whiten.mean" in weights else None)
    if meta.get("input", {}).get("symmetric"):  # each window with its mirror image (`SymmetricGait`)
        from engine.models.sge_la import SymmetricGait
        model = SymmetricGait(model)
        meta["fingerprint"] += "-sym"  # other embeddings than the plain weights': galleries re-encode
    return model.to(device).eval(), meta


def load_action(path: str | Path | None = None, device: str = "cpu"):
    """An action encoder (`engine.models.action`) of a checkpoint (default: the bundled one), in
    eval mode, with its metadata: ``(encoder, meta)``. The metadata says the representation
    (``architecture.kind`` and its arguments) and the input (``input.frames`` per clip,
    ``input.seconds`` of the live window)."""
    from engine.models.action import encoder_from, weights_module

    base = checkpoint_base(path, DEFAULT_ACTION)
    meta = read_meta(base)
    meta.setdefault("name", base.name)
    if meta.get("method") not in ACTION_METHODS:
        raise ValueError(f"{base}: a {meta.get('method')!r} checkpoint, not an action encoder {ACTION_METHODS}")
    model = encoder_from(meta["architecture"])
    weights = load_weights(base, device)
    load_into(weights_module(model), {k: v.float() for k, v in weights.items()}, base)
    meta["fingerprint"] = action_fingerprint(base, meta)
    return model.to(device).eval(), meta


def action_fingerprint(path: str | Path | None, meta: dict | None = None) -> str:
    """An action checkpoint's `fingerprint`, marked when the same weights give another embedding:
    pooled over spans (``architecture.segments``) or fused with the raw trajectory
    (``architecture.raw``), so their prototypes and ONNX exports do not mix."""
    base = checkpoint_base(path, DEFAULT_ACTION)
    arch = (meta if meta is not None else read_meta(base)).get("architecture", {})
    raw, seg = arch.get("raw"), arch.get("segments", 1)
    seg = "+".join(map(str, seg)) if isinstance(seg, list) else str(seg)
    return (fingerprint(base) + ("" if seg == "1" else f"-seg{seg}")
            + (f"-raw{raw['weight']:g}x{raw['size']}" if raw else ""))


def prototypes_for(action_checkpoint: str | Path | None) -> Path:
    """The prototype file that goes with an action checkpoint: ``CHECKPOINT.prototypes.safetensors``
    beside it (the bundled checkpoint's for None)."""
    if action_checkpoint is None:
        return DEFAULT_PROTOTYPES
    base = Path(action_checkpoint).with_suffix("") if Path(action_checkpoint).suffix in (".json", ".safetensors") \
        else Path(action_checkpoint)
    path = base.with_name(base.name + ".prototypes.safetensors")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no prototypes beside the action checkpoint {action_checkpoint}; build them "
                                f"with `skelstream prototypes --checkpoint {action_checkpoint} --dataset nwucla,kard "
                                f"-o {path}` or name a file with --prototypes")
    return path


def load_prototypes(path: str | Path, fingerprint: str | None = None):
    """``(names, prototypes [M, D], labels [M], metadata)`` of a prototype file (`skelstream
    prototypes`): row i is an example of action ``names[labels[i]]``. With ``fingerprint``, the
    file must have been built with those weights. ``metadata["basis"] [D, d]`` projects an
    embedding onto the stored prototypes' d directions (`engine.embed.ActionLabels`), or None."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: prototype file not found (make one with `skelstream prototypes`)")
    try:
        with safe_open(str(path), framework="np") as fh:
            info, keys = fh.metadata() or {}, set(fh.keys())
            tensors = {k: fh.get_tensor(k) for k in ("prototypes", "labels", "basis") if k in keys}
    except SafetensorError as exc:  # not a safetensors file at all
        raise ValueError(f"{path}: not a prototype file ({exc})") from None
    if not {"prototypes", "labels"} <= keys or "names" not in info:
        raise ValueError(f"{path}: not a prototype file (needs 'prototypes' and 'labels' tensors and 'names' metadata)")
    protos, labels = tensors["prototypes"].astype("float32"), tensors["labels"].astype("int64")
    basis = tensors["basis"].astype("float32") if "basis" in tensors else None
    try:
        names = json.loads(info["names"])
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: its 'names' metadata is not JSON ({exc})") from None
    if protos.ndim != 2 or labels.shape != (len(protos),) or labels.min(initial=0) < 0 or labels.max(initial=0) >= len(names):
        raise ValueError(f"{path}: prototypes {tuple(protos.shape)} with labels {tuple(labels.shape)} "
                         f"do not fit {len(names)} action names")
    if basis is not None and (basis.ndim != 2 or basis.shape[1] != protos.shape[1] or len(basis) <= basis.shape[1]):
        raise ValueError(f"{path}: basis {tuple(basis.shape)} does not fit prototypes {tuple(protos.shape)}")
    info = dict(info, basis=basis)
    if fingerprint is not None and info.get("fingerprint") != fingerprint:
        raise ValueError(f"{path}: built with weights {info.get('fingerprint')}, not the action checkpoint's "
                         f"{fingerprint}; rebuild it with `skelstream prototypes --checkpoint ...`")
    return names, protos, labels, info
