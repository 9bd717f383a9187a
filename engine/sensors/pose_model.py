"""Build MediaPipe's ``pose_landmarker_full.task`` offline, from the mediapipe package itself.

The Tasks API (`PoseLandmarker`, needed for several people per frame) loads a model bundle
that the PyPI wheel does not ship. mediapipe 0.10.21 does ship the two networks inside it
(for its legacy ``solutions`` API):

    mediapipe/modules/pose_detection/pose_detection.tflite      -> pose_detector.tflite
    mediapipe/modules/pose_landmark/pose_landmark_full.tflite    -> pose_landmarks_detector.tflite

A bundle is an uncompressed zip of those two, each carrying TFLite model metadata that tells
the Tasks image preprocessor how to scale pixels (detector: (x - 127.5) / 127.5; landmarker:
x / 255). This module writes that metadata with the flatbuffer classes mediapipe ships
(``mediapipe.tasks.metadata``) and zips the result with 64-byte aligned members.
``skelstream mediapipe-model`` runs it; the official ``pose_landmarker_*.task`` files from
Google's model page work as well (``--model``).
"""

from __future__ import annotations

import os
import struct
import zipfile
from pathlib import Path

DEFAULT_TASK = Path(os.environ.get("SKELSTREAM_CACHE", Path.home() / ".cache" / "skelstream")) / "models" / \
    "pose_landmarker_full.task"
SOURCES = {"pose_detector.tflite": "modules/pose_detection/pose_detection.tflite",
           "pose_landmarks_detector.tflite": "modules/pose_landmark/pose_landmark_full.tflite"}
# Per network: pixel normalisation (mean, std), value range after it, and output names.
NETWORKS = {
    "pose_detector.tflite": (127.5, 127.5, (-1.0, 1.0), ["boxes", "scores"]),
    "pose_landmarks_detector.tflite": (0.0, 255.0, (0.0, 1.0),
                                       ["landmarks", "presence", "segmentation", "heatmap", "world_landmarks"]),
}
ALIGN = 64


def _metadata(mean: float, std: float, value_range: tuple[float, float], outputs: list[str]) -> bytes:
    """The TFLite ModelMetadata flatbuffer (identifier M001) of one image network."""
    import flatbuffers
    from mediapipe.tasks.metadata import metadata_schema_py_generated as md

    norm = md.NormalizationOptionsT()
    norm.mean, norm.std = [mean], [std]
    unit = md.ProcessUnitT()
    unit.optionsType, unit.options = md.ProcessUnitOptions.NormalizationOptions, norm
    image = md.ImagePropertiesT()
    image.colorSpace = md.ColorSpaceType.RGB
    content = md.ContentT()
    content.contentPropertiesType, content.contentProperties = md.ContentProperties.ImageProperties, image
    stats = md.StatsT()
    stats.min, stats.max = [value_range[0]], [value_range[1]]
    tensor_in = md.TensorMetadataT()
    tensor_in.name, tensor_in.content, tensor_in.processUnits, tensor_in.stats = "image", content, [unit], stats
    tensors_out = []
    for name in outputs:
        c = md.ContentT()
        c.contentPropertiesType, c.contentProperties = md.ContentProperties.FeatureProperties, md.FeaturePropertiesT()
        t = md.TensorMetadataT()
        t.name, t.content, t.stats = name, c, md.StatsT()
        tensors_out.append(t)
    graph = md.SubGraphMetadataT()
    graph.inputTensorMetadata, graph.outputTensorMetadata = [tensor_in], tensors_out
    model = md.ModelMetadataT()
    model.name, model.version, model.minParserVersion = "pose", "1", "1.0.0"
    model.subgraphMetadata = [graph]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), b"M001")
    return bytes(builder.Output())


def with_metadata(network: bytes, name: str) -> bytes:
    """``network`` (.tflite bytes) with its ``TFLITE_METADATA`` buffer set (replaced if present)."""
    import flatbuffers
    from mediapipe.tasks.metadata import schema_py_generated as tfl

    if network[4:8] != b"TFL3":
        raise ValueError(f"{name}: not a TFLite model")
    mean, std, value_range, outputs = NETWORKS[name]
    root = tfl.Model.GetRootAsModel(network, 0)
    if root.Subgraphs(0).OutputsLength() != len(outputs):
        raise ValueError(f"{name}: {root.Subgraphs(0).OutputsLength()} outputs, expected {len(outputs)}")
    model = tfl.ModelT.InitFromObj(root)
    buffer = tfl.BufferT()
    buffer.data = list(_metadata(mean, std, value_range, outputs))
    model.buffers, model.metadata = model.buffers or [], model.metadata or []
    entry = next((m for m in model.metadata if m.name in (b"TFLITE_METADATA", "TFLITE_METADATA")), None)
    if entry is None:
        model.buffers.append(buffer)
        entry = tfl.MetadataT()
        entry.name, entry.buffer = "TFLITE_METADATA", len(model.buffers) - 1
        model.metadata.append(entry)
    else:
        model.buffers[entry.buffer] = buffer
    builder = flatbuffers.Builder(len(network) + 65536)
    builder.Finish(model.Pack(builder), b"TFL3")
    return bytes(builder.Output())


def write_bundle(path: Path, members: dict[str, bytes]) -> None:
    """An uncompressed zip whose members' data start at multiples of 64 bytes."""
    tmp = path.with_suffix(".partial")
    with open(tmp, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            start = fh.tell() + 30 + len(name.encode()) + 4  # local header, name, extra-field header
            pad = -start % ALIGN
            info.extra = struct.pack("<HH", 0xD935, pad) + b"\0" * pad
            zf.writestr(info, data)
    tmp.replace(path)


def make_pose_task(out: str | Path = DEFAULT_TASK) -> Path:
    """Write the Tasks-API pose bundle built from the installed mediapipe package."""
    import mediapipe

    package = Path(mediapipe.__file__).parent
    members = {}
    for name, rel in SOURCES.items():
        src = package / rel
        if not src.is_file():
            raise FileNotFoundError(
                f"{src}: mediapipe {mediapipe.__version__} does not bundle the pose networks; install "
                "mediapipe==0.10.21 (as pyproject.toml pins), or download pose_landmarker_full.task from "
                "https://ai.google.dev/edge/mediapipe/solutions/vision/pose_landmarker and pass --model")
        members[name] = with_metadata(src.read_bytes(), name)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_bundle(out, members)
    return out
