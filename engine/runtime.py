"""Inference backends: the checkpoints' encoders in eager PyTorch or in ONNX Runtime.

``skelstream export CHECKPOINT --onnx`` writes ``CHECKPOINT.onnx`` beside a gait (SGE-LA, A3D)
or action (ISC, CRRL, BYOL) checkpoint: the encoder's inference pass with a dynamic batch, the
checkpoint's fingerprint in its metadata (a stale file is refused, not run). The export is
checked against PyTorch on the spot (max abs difference of every output).

``skelstream engine --backend onnx`` runs the same encoders through ONNX Runtime (the CUDA
execution provider when the engine's device is CUDA and the provider is installed, the CPU one
otherwise). ``--backend auto`` (the default) takes ONNX Runtime on the CPU, where it is the
faster one for every bundled encoder (docs/RESULTS.md, issue 17), and eager PyTorch on other
devices, without onnxruntime, or for a checkpoint with no usable export yet (said on the
terminal; `load_encoder`). The `OnnxGait` and `OnnxAction` wrappers answer like the PyTorch
modules the engine uses (``encode`` / call, ``whitening``, ``config``), so the engine has one
code path; with ``--backend onnx`` a checkpoint without its ``.onnx`` is exported into the user
cache at start (said on the terminal; `skelstream export --onnx --cache` does it beforehand).
Features equal PyTorch's within 1e-5 (tests/test_runtime.py, on real windows).
"""

from __future__ import annotations

import logging
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from engine.checkpoint import (ACTION_METHODS, DEFAULT_ACTION, DEFAULT_GAIT, FAST_GAIT, GAIT_METHODS, checkpoint_base,
                               load_action, load_gait, read_meta)
from engine.models.sge_la import per_group

BACKENDS = ("auto", "torch", "onnx")
OPSET = 18
# how `export_onnx` writes a graph; part of the cached file's name, so an export in an older form
# is made again (2: SGE-LA's grouped products as one 2-D product per axis, `sge_la.per_group`)
EXPORT_FORM = 2


class _GaitGraph(torch.nn.Module):
    """What the engine reads of a gait encoder: sequence, attention (and A3D's glimpses)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        out = self.model.encode(x)
        return tuple(out[k] for k in self.outputs(self.model))

    @staticmethod
    def outputs(model) -> tuple[str, ...]:
        agent = hasattr(model, "glimpse_map") and model.config.attention != "none"  # A3D with glimpses to report
        return ("sequence", "attention", "glimpses") if agent else ("sequence", "attention")


def example_input(kind: str, meta: dict, batch: int = 2) -> torch.Tensor:
    """A batch of the shape the encoder takes (gait windows [B, f, 20, 3], action clips
    [B, frames, 20, 3]): smooth random motion around a standing pose scale."""
    frames = int(meta["input"]["window"] if kind == "gait" else meta["input"]["frames"])
    g = torch.Generator().manual_seed(0)
    return (torch.randn(batch, 1, 20, 3, generator=g) * 0.3
            + torch.randn(batch, frames, 20, 3, generator=g).cumsum(1) * 0.01)


def load_model(checkpoint: str | Path | None, device: str = "cpu"):
    """``(kind, model, meta)`` of any gait or action checkpoint (kind "gait" or "action")."""
    base = checkpoint_base(checkpoint, DEFAULT_GAIT)
    method = read_meta(base).get("method")
    if method in GAIT_METHODS:
        return ("gait", *load_gait(base, device))
    if method in ACTION_METHODS:
        return ("action", *load_action(base, device))
    raise ValueError(f"{base}: method {method!r} is neither gait {GAIT_METHODS} nor action {ACTION_METHODS}")


def export_onnx(checkpoint: str | Path | None, out: str | Path | None = None, check: bool = True) -> tuple[Path, float]:
    """Export a checkpoint's encoder to ONNX (dynamic batch). Returns ``(path, max abs
    difference to PyTorch)`` on a 3-window example (0.0 when ``check`` is off)."""
    import onnx

    base = checkpoint_base(checkpoint, DEFAULT_GAIT)
    kind, model, meta = load_model(base)
    path = Path(out) if out else base.with_suffix(".onnx")
    # SGE-LA's per-axis weights as 2-D products: ONNX Runtime packs them once, at load
    graph = _GaitGraph(per_group(model)) if kind == "gait" else model
    names = _GaitGraph.outputs(model) if kind == "gait" else ("embedding",)
    x = example_input(kind, meta)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    batch = torch.export.Dim("batch", min=1, max=65536)
    # torch.export's own FutureWarnings and its notes on the GRU's flat weights say nothing to a user
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)  # "torchvision is not installed"
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.filterwarnings("ignore", message=".*were assigned during export", category=UserWarning)
        program = torch.onnx.export(graph.eval(), (x,), dynamo=True, opset_version=OPSET, input_names=["x"],
                                    output_names=list(names), dynamic_shapes=({0: batch},), verbose=False,
                                    optimize=True)
    try:
        program.save(str(tmp))
        proto = onnx.load(str(tmp))
        for k, v in {"skelstream.kind": kind, "skelstream.name": meta["name"], "skelstream.fingerprint": meta["fingerprint"],
                     "skelstream.outputs": ",".join(names), "skelstream.export_form": str(EXPORT_FORM)}.items():
            proto.metadata_props.add(key=k, value=v)
        onnx.save(proto, str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    diff = 0.0
    if check:
        diff = max_difference(model, kind, path, example_input(kind, meta, 3))
    return path, diff


def max_difference(model, kind: str, path: str | Path, x: torch.Tensor) -> float:
    """Max abs difference over every output between ``model`` and the ONNX file on ``x``."""
    session = _Session(path, kind, fingerprint=None)
    with torch.inference_mode():
        ref = [t.float().numpy() for t in _GaitGraph(model)(x)] if kind == "gait" else [model(x).float().numpy()]
    got = session.run(x.numpy())
    return float(max(np.abs(a.astype(np.float64) - b).max(initial=0.0) for a, b in zip(got, ref)))


class _Session:
    """An ONNX Runtime session of an exported encoder, checked against the checkpoint it claims."""

    def __init__(self, path: str | Path, kind: str, fingerprint: str | None, device: str = "cpu", threads: int = 0):
        import onnxruntime as ort

        self.path = Path(path)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(0, int(threads))
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        available = ort.get_available_providers()
        providers = (["CUDAExecutionProvider"] if device.startswith("cuda") and "CUDAExecutionProvider" in available
                     else []) + ["CPUExecutionProvider"]
        self.session = ort.InferenceSession(str(self.path), opts, providers=providers)
        props = self.session.get_modelmeta().custom_metadata_map
        if props.get("skelstream.kind") != kind:
            raise ValueError(f"{self.path}: an ONNX {props.get('skelstream.kind') or 'file not made by skelstream export'}"
                             f" encoder, not a {kind} one")
        if fingerprint is not None and props.get("skelstream.fingerprint") != fingerprint:
            raise ValueError(f"{self.path}: exported from weights {props.get('skelstream.fingerprint')}, not the "
                             f"checkpoint's {fingerprint}; export it again with `skelstream export CHECKPOINT --onnx`")
        self.outputs = props["skelstream.outputs"].split(",")
        self.providers = self.session.get_providers()
        self.form = int(props.get("skelstream.export_form", "1"))
        if self.form < EXPORT_FORM:  # runs, with the same features, only slower (SGE-LA: 2x at batch 2)
            print(f"engine: {self.path} was exported by an older skelstream (form {self.form}, now {EXPORT_FORM}); "
                  f"`skelstream export CHECKPOINT --onnx` again for the faster graph", file=sys.stderr, flush=True)

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        return self.session.run(self.outputs, {"x": np.ascontiguousarray(x, np.float32)})


class OnnxGait:
    """A gait encoder in ONNX Runtime with the PyTorch model's interface (``encode``,
    ``whitening``, ``config``, ``glimpse_map`` for A3D)."""

    def __init__(self, model, session: _Session):
        self.config, self.whitening, self.session = model.config, model.whitening, session
        self.symmetric = getattr(model, "symmetric", False)
        self.keep = set(_GaitGraph.outputs(model))  # an older export of an agent-less A3D had glimpses too
        if hasattr(model, "glimpse_map"):
            self.glimpse_map = model.glimpse_map

    def encode(self, x) -> dict[str, torch.Tensor]:
        got = self.session.run(x.numpy() if isinstance(x, torch.Tensor) else x)
        return {k: torch.from_numpy(v) for k, v in zip(self.session.outputs, got) if k in self.keep}


class OnnxAction:
    """An action encoder in ONNX Runtime, called like the PyTorch one."""

    def __init__(self, model, session: _Session):
        self.dim = getattr(model, "dim", None)
        self.session = session

    def __call__(self, x) -> torch.Tensor:
        return torch.from_numpy(self.session.run(x.numpy() if isinstance(x, torch.Tensor) else x)[0])


def onnx_cache() -> Path:
    """Where exports made at engine start go: $SKELSTREAM_ONNX_CACHE, else the user cache."""
    if os.environ.get("SKELSTREAM_ONNX_CACHE"):
        return Path(os.environ["SKELSTREAM_ONNX_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "skelstream" / "onnx"


def cached_onnx(base: Path, fingerprint: str) -> Path:
    """Where `onnx_file` keeps the export of checkpoint ``base`` (its name, weights and the
    export form) in `onnx_cache`."""
    return onnx_cache() / f"{base.name}-{fingerprint}-e{EXPORT_FORM}.onnx"


def onnx_file(checkpoint: str | Path | None, kind: str, fingerprint: str, export: bool = True) -> Path | None:
    """The ONNX file of a checkpoint: ``CHECKPOINT.onnx`` when it exists, else one in the user
    cache named by the weights' fingerprint, exported now if missing (None instead when not
    ``export``)."""
    default = DEFAULT_GAIT if kind == "gait" else DEFAULT_ACTION
    base = checkpoint_base(checkpoint, default)
    beside = base.with_suffix(".onnx")
    if beside.is_file():
        return beside
    cached = cached_onnx(base, fingerprint)
    if not cached.is_file():
        if not export:
            return None
        t0 = time.monotonic()
        print(f"engine: exporting {base.name} to ONNX ({cached}) ...", flush=True)
        _, diff = export_onnx(base, cached)
        print(f"engine: exported in {time.monotonic() - t0:.0f} s; max abs difference to PyTorch {diff:.1e}", flush=True)
    # the same weights' exports in older forms are of no more use (form 1 had no suffix)
    for form in range(1, EXPORT_FORM):
        cached.with_name(f"{base.name}-{fingerprint}{f'-e{form}' if form > 1 else ''}.onnx").unlink(missing_ok=True)
    return cached


def resolve_backend(backend: str, device: str) -> str:
    """The backend ``auto`` means on ``device``: ONNX Runtime on the CPU when it is installed,
    eager PyTorch on any other device (ONNX Runtime's CUDA provider is a separate package, and
    nothing here measured it) or without onnxruntime. Other names stand for themselves."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; known: {', '.join(BACKENDS)}")
    if backend != "auto":
        return backend
    if not str(device).startswith("cpu"):
        return "torch"
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return "torch"
    return "onnx"


def is_onnx(model) -> bool:
    return isinstance(model, (OnnxGait, OnnxAction))


def backend_name(model) -> str:
    """How the engine reports an encoder's backend: ``torch`` or ``onnx (PROVIDER)``."""
    return f"onnx ({model.session.providers[0]})" if is_onnx(model) else "torch"


def warm_cache(checkpoints: list[str | Path | None]) -> list[Path]:
    """Make sure each checkpoint's ONNX file exists in `onnx_cache` (or beside it) and opens in
    ONNX Runtime, so an engine on ``--backend auto`` or ``onnx`` starts without exporting.
    ``None`` is the bundled checkpoints (the gait default, its fast student, the action default)."""
    paths = []
    for ckpt in checkpoints or [None]:
        for base in ([DEFAULT_GAIT, FAST_GAIT, DEFAULT_ACTION] if ckpt is None else [checkpoint_base(ckpt)]):
            kind, _, meta = load_model(base)
            path = onnx_file(base, kind, meta["fingerprint"])
            _Session(path, kind, meta["fingerprint"])
            paths.append(path)
    return paths


def load_encoder(kind: str, checkpoint: str | Path | None, backend: str = "torch", device: str = "cpu",
                 threads: int = 0):
    """``(encoder, meta)`` of a gait or action checkpoint on ``backend`` ("auto", "torch" or
    "onnx"; see `resolve_backend`). ``onnx`` exports a checkpoint that has no ONNX file yet (10-20
    s). ``auto`` never waits for an export: without one it runs eager PyTorch this time and says
    how to make it (`skelstream export --onnx --cache`; `make setup` does it for the bundled
    encoders); an ONNX file that cannot be run (stale, corrupt) also falls back, said on the
    terminal. A named backend that fails raises."""
    chosen = resolve_backend(backend, device)
    model, meta = (load_gait if kind == "gait" else load_action)(checkpoint, device=device if chosen == "torch" else "cpu")
    if chosen == "torch":
        return model, meta
    path = onnx_file(checkpoint, kind, meta["fingerprint"], export=backend != "auto")
    if path is None:
        print(f"engine: the {kind} encoder runs in eager PyTorch this time: it has no ONNX export yet; "
              f"`skelstream export --onnx --cache{f' {checkpoint}' if checkpoint else ''}` makes one for the "
              f"faster ONNX Runtime backend (`make setup` does it for the bundled encoders)", file=sys.stderr, flush=True)
        return model, meta
    try:
        session = _Session(path, kind, meta["fingerprint"], device, threads)
        if backend == "auto":  # one batch now, so a graph that loads but cannot run falls back here too
            session.run(example_input(kind, meta, 1).numpy())
    except Exception as e:  # the exporter's and ONNX Runtime's errors have no common base but Exception
        if backend != "auto":
            raise
        print(f"engine: the {kind} encoder runs in eager PyTorch: ONNX Runtime could not take it "
              f"({type(e).__name__}: {e})", file=sys.stderr, flush=True)
        return model, meta  # on the CPU: auto means ONNX only there
    return (OnnxGait(model, session) if kind == "gait" else OnnxAction(model, session)), meta
