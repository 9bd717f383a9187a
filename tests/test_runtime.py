"""ONNX export and the ONNX Runtime backend (`engine.runtime`): every encoder kind (SGE-LA, A3D and
the distilled A3D student gait; ISC, CRRL and BYOL action) exported with a dynamic batch gives PyTorch's features within
1e-5 (max abs) on real KGBD windows and clips; a stale export is refused. The bundled checkpoints
are the shipped weights; the others are freshly initialised encoders of the exported
architectures (their trained weights live in runs/, not in the repository)."""

from __future__ import annotations

import copy

import numpy as np
import onnx as onnx_proto
import pytest
import torch

from engine.checkpoint import DEFAULT_ACTION, DEFAULT_GAIT, fingerprint, load_action, load_gait, read_meta, save
from engine.datasets import open_dataset
from engine.embed import unit, window_features
from engine.models.action import action_input, encoder_from
from engine.models.a3d import A3D, A3DConfig
from engine.models.sge_la import prepare_windows, window_options
from engine.runtime import EXPORT_FORM, OnnxAction, OnnxGait, _Session, export_onnx, load_encoder, resolve_backend
from engine.skeleton import to_canonical

pytestmark = pytest.mark.realdata


class _Holder(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model


def _a3d_checkpoint(folder, method="a3d"):
    """A random A3D checkpoint; ``distill``: the student of `trainers.methods.distill` (no agent, an MLP head)."""
    torch.manual_seed(0)
    meta = copy.deepcopy(read_meta(DEFAULT_GAIT))
    config = A3DConfig() if method == "a3d" else A3DConfig(attention="none", head=512)
    inp = meta["input"] if method == "a3d" else {k: v for k, v in meta["input"].items() if k != "symmetric"}
    base = save(folder / method, _Holder(A3D(config).eval()),
                {"method": method, "architecture": config.to_dict(), "input": inp})
    return base


def _action_checkpoint(folder, method, architecture, frames):
    torch.manual_seed(0)
    meta = copy.deepcopy(read_meta(DEFAULT_ACTION))
    meta["input"]["frames"] = frames
    return save(folder / method, encoder_from(architecture).eval(),
                {"method": method, "architecture": architecture, "input": meta["input"]})


@pytest.fixture(scope="module")
def kgbd_walks(kgbd_root):
    ds = open_dataset(kgbd_root)
    return [ds.read(it.path) for it in ds.items[:: max(1, len(ds.items) // 6)][:6]]


def _gait_windows(meta, walks):
    return np.concatenate([prepare_windows(s.joints, s.confidence, s.layout, int(meta["input"]["window"]),
                                           step=3, **window_options(meta["input"])) for s in walks])


def _action_clips(meta, walks):
    frames = int(meta["input"]["frames"])
    clips = []
    for s in walks:
        j, c, _ = to_canonical(s.joints, s.confidence, s.layout)
        clips += [action_input(j[a:a + 31], c[a:a + 31], frames) for a in range(0, len(j) - 31, 15)]
    return np.stack(clips)


@pytest.mark.parametrize("which", ["sge_la", "a3d", "distill"])
def test_onnx_gait_features_equal_pytorch_on_real_windows(which, kgbd_walks, tmp_path):
    base = DEFAULT_GAIT if which == "sge_la" else _a3d_checkpoint(tmp_path, which)
    path, diff = export_onnx(base, tmp_path / f"{which}.onnx")
    assert diff < 1e-5
    if which == "sge_la":  # every weight a 2-D product: ONNX Runtime packs those once, at load
        proto = onnx_proto.load(str(path))
        consts = {i.name: len(i.dims) for i in proto.graph.initializer}
        ranks = [consts[n.input[1]] for n in proto.graph.node if n.op_type in ("MatMul", "Gemm") and n.input[1] in consts]
        assert len(ranks) >= 3 * 24 and set(ranks) == {2}
    model, meta = load_gait(base)
    onnx = OnnxGait(model, _Session(path, "gait", meta["fingerprint"]))
    x = _gait_windows(meta, kgbd_walks)
    assert len(x) > 300  # a few hundred real windows, in batches of 1, 7 and the rest (dynamic batch)
    for batch in (x[:1], x[1:8], x[8:]):
        with torch.inference_mode():
            ref = model.encode(torch.from_numpy(batch))
        got = onnx.encode(batch)
        assert set(got) <= set(ref)
        # the encoder's features: within 1e-5
        assert np.abs(got["sequence"].numpy() - ref["sequence"].numpy()).max() < 1e-5
        # the whitened matching features (the same numpy code after either backend) magnify float32
        # rounding ~100x: PyTorch's own batch-of-1 and batched encodings of these windows differ by
        # up to 9e-5 there (measured); ONNX Runtime stays within that, at cosine 1 - 1e-6
        feats_ref = window_features(model, ref["sequence"].numpy())
        feats = window_features(onnx, got["sequence"].numpy())
        assert feats.shape == feats_ref.shape == (len(batch), feats.shape[1])
        assert np.abs(feats - feats_ref).max() < 2e-4
        assert (feats * feats_ref).sum(1).min() > 1 - 1e-6
        assert np.abs(got["attention"].numpy() - ref["attention"].numpy()).max() < 1e-5
        if which == "a3d":  # where it looked: the same bins
            assert torch.equal(got["glimpses"], ref["glimpses"])
        if which == "distill":  # no agent: nothing to report of glimpses, in either backend
            assert "glimpses" not in got and "glimpses" not in ref and not got["attention"].any()


@pytest.mark.parametrize("which", ["isc", "crrl", "byol"])
def test_onnx_action_embeddings_equal_pytorch_on_real_clips(which, kgbd_walks, tmp_path):
    base = {"isc": lambda: DEFAULT_ACTION,
            "crrl": lambda: _action_checkpoint(tmp_path, "crrl", {"kind": "seq", "hidden": 256, "layers": 2,
                                                                  "dropout": 0.2}, 50),
            "byol": lambda: _action_checkpoint(tmp_path, "byol", {"kind": "stgcn", "width": 0.25}, 50)}[which]()
    path, diff = export_onnx(base, tmp_path / f"{which}.onnx")
    model, meta = load_action(base)
    onnx = OnnxAction(model, _Session(path, "action", meta["fingerprint"]))
    x = _action_clips(meta, kgbd_walks)
    assert len(x) > 50
    for batch in (x[:1], x[1:]):
        with torch.inference_mode():
            ref = model(torch.from_numpy(batch)).numpy()
        got = onnx(batch).numpy()
        assert got.shape == ref.shape
        assert np.abs(unit(got) - unit(ref)).max() < 1e-5  # the engine's matching features
        assert np.abs(got - ref).max() < 1e-5 * max(1.0, np.abs(ref).max())


def test_a_stale_or_foreign_onnx_file_is_refused(tmp_path, onnx_cache, capsys):
    gait = next(onnx_cache.glob("gait_*.onnx"))
    assert _Session(gait, "gait", None).form == EXPORT_FORM
    # an export of an older form still runs, and the terminal says how to make the faster one
    old = onnx_proto.load(str(gait))
    kept = [p for p in old.metadata_props if p.key != "skelstream.export_form"]
    del old.metadata_props[:]
    old.metadata_props.extend(kept)
    onnx_proto.save(old, str(tmp_path / "old.onnx"))
    assert _Session(tmp_path / "old.onnx", "gait", None).form == 1
    assert "older skelstream" in capsys.readouterr().err
    with pytest.raises(ValueError, match="not a action one|not an? action"):
        _Session(gait, "action", None)
    with pytest.raises(ValueError, match="export it again"):
        _Session(gait, "gait", "0123456789abcdef")
    # the engine's loader finds the cached export of the bundled checkpoint, and names its provider
    model, meta = load_encoder("gait", None, "onnx")
    assert isinstance(model, OnnxGait) and meta["fingerprint"].startswith(fingerprint(DEFAULT_GAIT)) and model.symmetric
    assert model.session.providers[-1] == "CPUExecutionProvider"
    with pytest.raises(ValueError, match="unknown backend"):
        load_encoder("gait", None, "tensorrt")


def test_the_auto_backend_takes_onnx_on_the_cpu_and_falls_back_to_pytorch(tmp_path, onnx_cache, capsys):
    """``--backend auto`` (the engine's default): ONNX Runtime on the CPU, eager PyTorch on CUDA;
    a checkpoint whose ONNX file cannot be run (here a stale export beside it) runs in PyTorch
    with a line on the terminal, where ``--backend onnx`` refuses it."""
    import shutil

    assert resolve_backend("auto", "cpu") == "onnx" and resolve_backend("auto", "cuda:0") == "torch"
    assert resolve_backend("torch", "cpu") == "torch" and resolve_backend("onnx", "cuda") == "onnx"
    with pytest.raises(ValueError, match="unknown backend"):
        resolve_backend("tensorrt", "cpu")
    model, _ = load_encoder("gait", None, "auto")
    assert isinstance(model, OnnxGait)
    for suffix in (".json", ".safetensors"):
        shutil.copy(DEFAULT_GAIT.with_suffix(suffix), tmp_path / ("g" + suffix))
    stale = onnx_proto.load(str(next(onnx_cache.glob("gait_*.onnx"))))
    for p in stale.metadata_props:
        if p.key == "skelstream.fingerprint":
            p.value = "0123456789abcdef"
    onnx_proto.save(stale, str(tmp_path / "g.onnx"))
    capsys.readouterr()
    model, meta = load_encoder("gait", tmp_path / "g", "auto")
    assert isinstance(model, torch.nn.Module) and not isinstance(model, OnnxGait)
    err = capsys.readouterr().err
    assert "gait encoder runs in eager PyTorch" in err and "export it again" in err
    with pytest.raises(ValueError, match="export it again"):
        load_encoder("gait", tmp_path / "g", "onnx")
    # a file ONNX Runtime cannot parse at all (its errors are not ValueErrors): the same fallback
    (tmp_path / "g.onnx").write_bytes(b"not an onnx graph")
    model, _ = load_encoder("gait", tmp_path / "g", "auto")
    assert not isinstance(model, OnnxGait) and "runs in eager PyTorch" in capsys.readouterr().err
    with pytest.raises(Exception, match="INVALID_PROTOBUF"):  # onnxruntime's InvalidProtobuf: no ValueError
        load_encoder("gait", tmp_path / "g", "onnx")
    assert resolve_backend("auto", "mps") == "torch"


def test_the_auto_backend_never_waits_for_an_export(tmp_path, onnx_cache, monkeypatch, capsys):
    """An engine on ``auto`` starts at once: a checkpoint without an ONNX export runs in eager
    PyTorch and the terminal says how to make the export; ``onnx`` makes it."""
    empty = tmp_path / "cache"
    monkeypatch.setenv("SKELSTREAM_ONNX_CACHE", str(empty))
    model, _ = load_encoder("action", None, "auto")
    assert not isinstance(model, OnnxAction) and not any(empty.glob("*.onnx"))
    assert "skelstream export --onnx --cache" in capsys.readouterr().err


def test_an_export_at_start_replaces_the_same_weights_older_exports(tmp_path, onnx_cache):
    """The engine's export into the user cache removes the same checkpoint's exports of older
    forms (they would only take disk); other checkpoints' files stay."""
    from engine.runtime import cached_onnx, onnx_file
    ckpt = _action_checkpoint(tmp_path, "isc", {"kind": "seq", "hidden": 8, "motion": True}, 16)
    fp = load_action(ckpt)[1]["fingerprint"]
    old = [onnx_cache / f"isc-{fp}.onnx"]  # form 1 (before EXPORT_FORM was in the name)
    other = onnx_cache / "isc-0123456789abcdef.onnx"
    for f in (*old, other):
        f.write_bytes(b"an older export")
    path = onnx_file(ckpt, "action", fp)
    assert path == cached_onnx(ckpt, fp) and path.is_file() and _Session(path, "action", fp).form == EXPORT_FORM
    assert not any(f.exists() for f in old) and other.exists()
    other.unlink()
