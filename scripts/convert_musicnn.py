"""Convert musicnn 0.1.0's MSD and MTT networks to ONNX and record reference outputs.

TensorFlow is needed only while this script runs, in a throwaway virtual environment; it is
never a dependency of Soundalike. From the repository root:

    VENV="$(mktemp -d)/venv"
    python3.11 -m venv "$VENV"
    "$VENV/bin/pip" install tensorflow-cpu==2.15.1 tf2onnx==1.16.1 onnx==1.17.0 protobuf==3.20.3 \\
        numpy==1.26.4 onnxruntime==1.26.0 librosa==0.11.0 soxr==1.1.0 soundfile==0.14.0
    "$VENV/bin/python" scripts/convert_musicnn.py
    rm -r "$(dirname "$VENV")"

What it does:

1. ``pip download --no-deps musicnn==0.1.0`` from PyPI (checked against the sha256 below) and
   unpacks the wheel in a temporary directory. The wheel holds the TensorFlow-1 checkpoints and
   musicnn's model code; its metadata pins numpy < 1.17, hence ``--no-deps``.
2. For MSD_musicnn and MTT_musicnn: builds the graph with musicnn's own ``define_model`` in
   inference mode (``is_training=False``: batch normalisation uses its moving averages, dropout
   is off), restores the wheel's checkpoint, freezes it and converts it with tf2onnx (opset 17).
   The ONNX model takes ``patches`` [n, 187, 96] float32 and gives ``penultimate`` [n, 200]
   (the 200-unit dense layer after ReLU and batch normalisation) and ``tags`` [n, 50] (sigmoid
   probabilities); averaging over a song's patches is left to the caller.
3. Takes the filters training left dead out of the graph (``scripts/simplify_musicnn.py``: a
   channel that is provably constant over every input becomes that constant, and the front
   end pools over frequency before its batch norm): the same outputs for about a third of the
   work.
4. Writes ``indexer/audio/musicnn/{MSD,MTT}_musicnn.onnx`` and ``tags.json`` (the wheel's tag
   lists, in output order).
5. Records TensorFlow's outputs, patch by patch, on a few Creative-Commons clips of the
   repository, through the project's own front end (``indexer.audio.embedding``), into
   ``tests/data/musicnn_references.npz``; with each clip's first patch of float16 mel power so
   a test can hold the network alone to TensorFlow.
6. Prints how far onnxruntime is from TensorFlow on those patches, and checks the wheel's own
   ``extractor()``, which returns the first patch's penultimate layer for every patch.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf

if TYPE_CHECKING:
    import onnx
    import tensorflow as tf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from indexer.audio.embedding import (  # noqa: E402
    MODELS,
    N_MELS,
    N_PENULTIMATE,
    N_TAGS,
    PATCH_FRAMES,
    log_mel_patches,
)

WHEEL = "musicnn==0.1.0"
WHEEL_SHA256 = "f38a4890c648c1ddbb141c5d96d2b0a8cfcd36746002d896989f7b88beb65cfa"
OPSET = 17

# Largest onnxruntime-vs-TensorFlow difference accepted on the reference patches (measured:
# 3.9e-6 and 9.5e-7; more would mean a conversion error, not float rounding).
MAX_DIFF = {"penultimate": 1e-4, "tags": 1e-5}

# tf2onnx's numbered names: "const_fold_opt__156", "new_shape__147", "FusedBatchNormV3__31".
_GENERATED = re.compile(r"__\d+")

MODEL_DIR = ROOT / "indexer" / "audio" / "musicnn"
REFERENCES = ROOT / "tests" / "data" / "musicnn_references.npz"

# Music of several kinds, all mono 22050 Hz Ogg/Vorbis (the decoder's analysis rate), so the
# references also go through resampling: 1, 8, 15 and 20 patches.
REFERENCE_CLIPS = (
    "tests/data/clips/sorohanro_-_solo-trumpet-06.ogg",
    "demo/library/admiralbob77_-_Choice_-_Drum-bass.ogg",
    "demo/library/Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_(string_orchestra).ogg",
    "demo/library/Kevin_MacLeod_-_Vibe_Ace.ogg",
)

NOTICE = (
    "musicnn {model} by Jordi Pons and Xavier Serra (2019), Copyright (c) Music Technology "
    "Group, Universitat Pompeu Fabra 2019, ISC licence. Converted to ONNX from the musicnn "
    "0.1.0 wheel with tf2onnx by scripts/convert_musicnn.py."
)


def main() -> None:
    """Convert both models, write the tag lists and the references, print the comparisons."""
    # TensorFlow's start-up chatter, and one deprecation warning per musicnn layer: known noise.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    warnings.filterwarnings("ignore", message=r"`tf\.layers\.")
    import tensorflow as tf

    tf.compat.v1.disable_eager_execution()
    with tempfile.TemporaryDirectory() as tmp:
        wheel_dir = fetch_wheel(Path(tmp))
        sys.path.insert(0, str(wheel_dir))
        from musicnn import configuration

        labels = {"MSD_musicnn": configuration.MSD_LABELS, "MTT_musicnn": configuration.MTT_LABELS}
        clips = {name: read_clip(ROOT / name) for name in REFERENCE_CLIPS}
        patches = {name: log_mel_patches(y=y, sr=sr) for name, (y, sr) in clips.items()}

        references: dict[str, np.ndarray] = {"clips": np.array(REFERENCE_CLIPS)}
        for i, name in enumerate(REFERENCE_CLIPS):
            y, sr = clips[name]
            references[f"clip{i}_sr"] = np.array(sr)
            references[f"clip{i}_n_samples"] = np.array(len(y))
            references[f"clip{i}_first_patch_power"] = first_patch_power(patches[name][0])

        MODEL_DIR.mkdir(parents=True, exist_ok=True)
        for model in MODELS:
            graph_def, outputs = freeze(wheel_dir, model, len(labels[model]), patches)
            converted = Path(tmp) / f"{model}.onnx"
            write_onnx(graph_def, model, converted)
            compare_onnx(converted, patches, outputs)
            onnx_path = MODEL_DIR / converted.name
            shutil.move(converted, onnx_path)
            print(
                f"{onnx_path.relative_to(ROOT)}: {onnx_path.stat().st_size} bytes, "
                f"sha256 {sha256(onnx_path)}"
            )
            for i, name in enumerate(REFERENCE_CLIPS):
                references[f"clip{i}_{model}_penultimate"] = outputs[name][0]
                references[f"clip{i}_{model}_tags"] = outputs[name][1]
            check_extractor(wheel_dir, model, ROOT / REFERENCE_CLIPS[2])

        tags_path = MODEL_DIR / "tags.json"
        tags_path.write_text(json.dumps(labels, indent=1) + "\n", encoding="utf-8")
        REFERENCES.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(REFERENCES, **references)
        print(f"{REFERENCES.relative_to(ROOT)}: {REFERENCES.stat().st_size} bytes")


def fetch_wheel(tmp: Path) -> Path:
    """Download the musicnn wheel with pip, check its hash, unpack it; the unpacked directory."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--dest",
            str(tmp),
            WHEEL,
        ],
        check=True,
    )
    (wheel,) = tmp.glob("musicnn-0.1.0-*.whl")
    if sha256(wheel) != WHEEL_SHA256:
        raise SystemExit(f"{wheel.name}: sha256 {sha256(wheel)}, expected {WHEEL_SHA256}")
    unpacked = tmp / "wheel"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(unpacked)
    return unpacked


def read_clip(path: Path) -> tuple[np.ndarray, int]:
    """A reference clip's samples, mono float32, at its own rate."""
    y, sr = sf.read(path, dtype="float32", always_2d=True)
    if y.shape[1] != 1:
        raise SystemExit(f"{path}: reference clips must be mono")
    return np.ascontiguousarray(y[:, 0]), int(sr)


def first_patch_power(patch: np.ndarray) -> np.ndarray:
    """The float16 mel power behind a log-compressed patch (exactly: log10 is monotonic and
    float16 has fewer values than float32 can tell apart)."""
    power = ((10.0 ** patch.astype(np.float64)) - 1.0) / 10000.0
    power16 = power.astype(np.float16)
    again = np.log10(np.float32(10000) * power16.astype(np.float32) + np.float32(1))
    if not np.array_equal(again, patch):
        raise SystemExit("the float16 power does not give the patch back")
    return power16


def build_graph(wheel_dir: Path, model: str, n_tags: int) -> tf.Graph:
    """musicnn's graph for ``model`` in inference mode, with named input and outputs."""
    import tensorflow as tf
    from musicnn import models

    graph = tf.Graph()
    with graph.as_default():
        patches = tf.compat.v1.placeholder(tf.float32, [None, PATCH_FRAMES, N_MELS], name="patches")
        with tf.compat.v1.name_scope("model"):
            logits, *_, penultimate = models.define_model(patches, False, model, n_tags)
        tf.identity(penultimate, name="penultimate")
        tf.nn.sigmoid(logits, name="tags")
    return graph


def freeze(
    wheel_dir: Path, model: str, n_tags: int, patches: dict[str, np.ndarray]
) -> tuple[tf.compat.v1.GraphDef, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Restore the checkpoint and freeze the graph; also TensorFlow's outputs on ``patches``."""
    import tensorflow as tf

    graph = build_graph(wheel_dir, model, n_tags)
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as sess:
        # The checkpoint's files are named ".index", ".data-...": the prefix is the directory.
        tf.compat.v1.train.Saver().restore(sess, f"{wheel_dir / 'musicnn' / model}/")
        outputs = {}
        for name, batch in patches.items():
            pen, tags = sess.run(["penultimate:0", "tags:0"], {"patches:0": batch})
            assert pen.shape == (len(batch), N_PENULTIMATE)
            assert tags.shape == (len(batch), N_TAGS)
            outputs[name] = (pen.astype(np.float32), tags.astype(np.float32))
        frozen = tf.compat.v1.graph_util.convert_variables_to_constants(
            sess, graph.as_graph_def(), ["penultimate", "tags"]
        )
    return frozen, outputs


def write_onnx(graph_def: tf.compat.v1.GraphDef, model: str, path: Path) -> None:
    """Convert a frozen graph with tf2onnx; tensors named patches, penultimate and tags.

    tf2onnx's transpose optimiser is left out: it walks a set of node objects, so the graph it
    leaves depends on memory addresses (MTT came out with 67 or 68 nodes from run to run).
    Without it every run gives the same bytes, and onnxruntime removes the transposes itself
    when it loads the model (same speed, outputs within 1e-6).
    """
    import onnx
    import tf2onnx
    from tf2onnx import optimizer

    # tf2onnx 1.16.1 takes its optimiser list from this module-level table; from_graph_def
    # has no parameter for it.
    saved = optimizer._optimizers.copy()
    del optimizer._optimizers["optimize_transpose"]
    try:
        proto, _ = tf2onnx.convert.from_graph_def(
            graph_def,
            name=model,
            input_names=["patches:0"],
            output_names=["penultimate:0", "tags:0"],
            opset=OPSET,
            tensors_to_rename={
                "patches:0": "patches",
                "penultimate:0": "penultimate",
                "tags:0": "tags",
            },
        )
    finally:
        optimizer._optimizers.clear()
        optimizer._optimizers.update(saved)
    stable_names(proto)
    # Beside this script, so importable when it runs (scripts/ is not a package).
    from simplify_musicnn import simplify

    print(f"{model}: filters kept {simplify(proto)}")
    proto.graph.name = model
    proto.doc_string = NOTICE.format(model=model)
    onnx.checker.check_model(proto)
    onnx.save(proto, path)


def stable_names(proto: onnx.ModelProto) -> None:
    """Rename what tf2onnx numbers from its process-wide counter, in graph order instead.

    tf2onnx names the constants it folds, the nodes it adds and the batch dimension from one
    counter for the whole process, so a model's names would depend on what was converted
    before it. Renumbered here, each model's bytes depend on that model alone.
    """
    graph = proto.graph
    initializers = {tensor.name for tensor in graph.initializer}
    taken = {name for node in graph.node for name in (*node.input, *node.output)} | initializers
    tensors: dict[str, str] = {}

    def tensor_name(name: str) -> str:
        if not (name in initializers or _GENERATED.search(name)):
            return name
        if name not in tensors:
            tensors[name] = f"generated_{len(tensors)}"
            assert tensors[name] not in taken
        return tensors[name]

    for i, node in enumerate(graph.node):
        node.input[:] = [tensor_name(name) for name in node.input]
        node.output[:] = [tensor_name(name) for name in node.output]
        if _GENERATED.search(node.name):
            node.name = f"generated_node_{i}"
    for tensor in graph.initializer:
        tensor.name = tensor_name(tensor.name)
    ordered = sorted(graph.initializer, key=lambda tensor: int(tensor.name.split("_")[-1]))
    del graph.initializer[:]
    graph.initializer.extend(ordered)
    for value in (*graph.input, *graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "n_patches"


def compare_onnx(
    path: Path, patches: dict[str, np.ndarray], outputs: dict[str, tuple[np.ndarray, np.ndarray]]
) -> None:
    """Print onnxruntime's largest distance from TensorFlow over the reference patches."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        str(path), sess_options=options, providers=["CPUExecutionProvider"]
    )
    worst_pen = worst_tags = 0.0
    for name, batch in patches.items():
        pen, tags = session.run(["penultimate", "tags"], {"patches": batch})
        worst_pen = max(worst_pen, float(np.abs(pen - outputs[name][0]).max()))
        worst_tags = max(worst_tags, float(np.abs(tags - outputs[name][1]).max()))
    n = sum(len(b) for b in patches.values())
    print(
        f"{path.stem}: onnxruntime vs TensorFlow over {n} patches: max abs diff "
        f"penultimate {worst_pen:.2e}, tags {worst_tags:.2e}"
    )
    if worst_pen > MAX_DIFF["penultimate"] or worst_tags > MAX_DIFF["tags"]:
        raise SystemExit(f"{path.stem} does not reproduce TensorFlow; not written")


def check_extractor(wheel_dir: Path, model: str, clip: Path) -> None:
    """Compare the wheel's ``extractor()`` with the graph run patch by patch, on its own input.

    musicnn 0.1.0 keeps the first batch's penultimate layer for every later batch (a variable
    mix-up in its loop). Its taggram is right, so the taggram is checked too.
    """
    import tensorflow as tf
    from musicnn import extractor as musicnn_extractor

    batch, _ = musicnn_extractor.batch_data(str(clip), PATCH_FRAMES, PATCH_FRAMES)
    taggram, _, features = musicnn_extractor.extractor(str(clip), model=model)
    graph = build_graph(wheel_dir, model, taggram.shape[1])
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as sess:
        tf.compat.v1.train.Saver().restore(sess, f"{wheel_dir / 'musicnn' / model}/")
        pen, tags = sess.run(["penultimate:0", "tags:0"], {"patches:0": batch})
    got = features["penultimate"]
    repeats_first = bool(np.array_equal(got, np.broadcast_to(got[0], got.shape)))
    print(
        f"{model} extractor() on {clip.name} ({len(batch)} patches, its own input dtype "
        f"{batch.dtype}): every row equals the first: {repeats_first}; "
        f"max abs diff from the graph: penultimate {np.abs(got - pen).max():.3g} "
        f"(mean over patches {np.abs(got.mean(0) - pen.mean(0)).max():.3g}), "
        f"taggram {np.abs(taggram - tags).max():.3g}"
    )


def sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


if __name__ == "__main__":
    main()
