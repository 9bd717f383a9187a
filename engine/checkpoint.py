"""Checkpoints: ``NAME.safetensors`` (weights) + ``NAME.json`` (everything needed to rebuild and
trust the model: method, architecture, input layout and window, normalisation, embedding size,
training data and command, metrics, git commit). Nothing is unpickled."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

DEFAULT_GAIT = Path(__file__).resolve().parent / "models" / "weights" / "gait_sge_la"


def git_commit() -> str:
    """The current commit of the source tree, or "unknown"."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


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
    """The JSON metadata of a checkpoint (path with or without suffix)."""
    base = Path(path).with_suffix("")
    meta_path = base.with_suffix(".json")
    if not meta_path.is_file():
        raise FileNotFoundError(f"{meta_path}: checkpoint metadata not found")
    return json.loads(meta_path.read_text())


def load_gait(path: str | Path | None = None, device: str = "cpu"):
    """The SGE-LA gait encoder of a checkpoint (default: the bundled one), in eval mode,
    with its metadata: ``(model, meta)``. ``model.whitening`` is the checkpoint's
    `engine.embed.Whitening` (tensors ``whiten.mean``/``whiten.proj``) or None."""
    from engine.embed import Whitening
    from engine.models.sge_la import SGELA, SGEConfig

    base = Path(path).with_suffix("") if path else DEFAULT_GAIT
    meta = read_meta(base)
    meta.setdefault("name", base.name)
    meta["fingerprint"] = fingerprint(base)
    if meta.get("method") != "sge_la":
        raise ValueError(f"{base}: a {meta.get('method')!r} checkpoint, not a gait encoder (sge_la)")
    model = SGELA(SGEConfig(**meta["architecture"]))
    weights = load_file(str(base.with_suffix(".safetensors")), device=device)
    enc = {k.removeprefix("model."): v.float() for k, v in weights.items() if k.startswith("model.")}
    model.load_state_dict(enc)
    model.whitening = (Whitening(weights["whiten.mean"].float().cpu().numpy(), weights["whiten.proj"].float().cpu().numpy())
                       if "whiten.mean" in weights else None)
    return model.to(device).eval(), meta
