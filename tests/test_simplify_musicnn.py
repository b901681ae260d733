"""scripts/simplify_musicnn.py on a small graph laid out as tf2onnx lays out musicnn.

The shipped model files were rewritten already (and the rewrite refuses to run twice), so the
rewrite is checked here on a graph with musicnn's shapes in miniature: an input batch norm, a
timbral branch (kernel over time and part of frequency, bias in an Add after it; 20 filters, so
that the live ones are rounded up to a block of 16) and a temporal
branch (kernel over time, bias in the Conv), each with ReLU, batch norm and a max over every
frequency, their concat, and a mid-end convolution over the concat. Some filters are dead as
musicnn's are (weights of 1e-28; a bias so negative that the ReLU never opens; a batch-norm
scale of zero), some batch-norm scales are negative (the max becomes a min), and the outputs
of the rewritten graph must equal the original's on any input the model can be given.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnxruntime
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from simplify_musicnn import LOG_MEL_MAX, SimplifyError, simplify  # noqa: E402

T, F = 20, 12  # frames and mel bands
TIMBRAL, TEMPORAL, MID = 20, 4, 5  # filters per convolution


def _bn(name: str, x: str, gamma: np.ndarray, inits: list, nodes: list) -> str:
    n = len(gamma)
    rng = np.random.default_rng(len(name))
    params = {
        "gamma": gamma.astype(np.float32),
        "beta": rng.normal(size=n).astype(np.float32),
        "mean": rng.normal(size=n).astype(np.float32),
        "var": rng.uniform(0.5, 2, size=n).astype(np.float32),
    }
    for key, value in params.items():
        inits.append(numpy_helper.from_array(value, f"{name}/{key}"))
    nodes.append(
        helper.make_node(
            "BatchNormalization",
            [x, *(f"{name}/{key}" for key in params)],
            [f"{name}:0"],
            name=name,
            epsilon=1e-3,
        )
    )
    return f"{name}:0"


def _branch(
    name: str,
    x: str,
    w: np.ndarray,
    bias: np.ndarray,
    gamma: np.ndarray,
    *,
    bias_in_conv: bool,
    inits: list,
    nodes: list,
) -> str:
    """Conv, (Transpose, Add bias), ReLU, BN, max over frequency, squeeze: [n, T, filters]."""
    kt = w.shape[2]
    pads = [(kt - 1) // 2, 0, kt // 2, 0]
    inits.append(numpy_helper.from_array(w.astype(np.float32), f"{name}/w"))
    inits.append(numpy_helper.from_array(bias.astype(np.float32), f"{name}/b"))
    conv_inputs = [x, f"{name}/w"] + ([f"{name}/b"] if bias_in_conv else [])
    nodes.append(
        helper.make_node("Conv", conv_inputs, [f"{name}/conv"], name=f"{name}/Conv", pads=pads)
    )
    nodes.append(
        helper.make_node(
            "Transpose", [f"{name}/conv"], [f"{name}/nhwc"], name=f"{name}/T1", perm=[0, 2, 3, 1]
        )
    )
    y = f"{name}/nhwc"
    if not bias_in_conv:
        nodes.append(
            helper.make_node("Add", [y, f"{name}/b"], [f"{name}/add"], name=f"{name}/BiasAdd")
        )
        y = f"{name}/add"
    nodes.append(helper.make_node("Relu", [y], [f"{name}/relu"], name=f"{name}/Relu"))
    nodes.append(
        helper.make_node(
            "Transpose", [f"{name}/relu"], [f"{name}/nchw"], name=f"{name}/T2", perm=[0, 3, 1, 2]
        )
    )
    y = _bn(f"{name}/bn", f"{name}/nchw", gamma, inits, nodes)
    width = F - w.shape[3] + 1
    nodes.append(
        helper.make_node(
            "MaxPool",
            [y],
            [f"{name}/pool"],
            name=f"{name}/MaxPool",
            kernel_shape=[1, width],
            strides=[1, width],
        )
    )
    nodes.append(
        helper.make_node(
            "Transpose", [f"{name}/pool"], [f"{name}/pooled"], name=f"{name}/T3", perm=[0, 2, 3, 1]
        )
    )
    inits.append(numpy_helper.from_array(np.array([2], np.int64), f"{name}/axes"))
    nodes.append(
        helper.make_node(
            "Squeeze", [f"{name}/pooled", f"{name}/axes"], [f"{name}/out"], name=f"{name}/Squeeze"
        )
    )
    return f"{name}/out"


def _model(*, bn_before_relu: bool = False) -> onnx.ModelProto:
    rng = np.random.default_rng(7)
    inits: list = []
    nodes: list = []
    inits.append(numpy_helper.from_array(np.array([3], np.int64), "axis3"))
    nodes.append(helper.make_node("Unsqueeze", ["patches", "axis3"], ["x4"], name="ExpandDims"))
    nodes.append(helper.make_node("Transpose", ["x4"], ["x"], name="T0", perm=[0, 3, 1, 2]))
    x = _bn("input_bn", "x", np.array([0.4], np.float32), inits, nodes)

    w = rng.normal(size=(TIMBRAL, 1, 3, 5))
    w[1] = 1e-28  # decayed to nothing
    w[3] *= 1e-30
    w[[7, 9, 11]] = 2e-28
    bias = rng.normal(size=TIMBRAL)
    bias[4] = -1e4  # the ReLU never opens
    gamma = rng.uniform(0.5, 1.5, size=TIMBRAL) * np.resize([1, 1, -1, 1, 1, -1], TIMBRAL)
    a = _branch("timbral", x, w, bias, gamma, bias_in_conv=False, inits=inits, nodes=nodes)

    w = rng.normal(size=(TEMPORAL, 1, 5, 1))
    w[0] = -3e-28
    gamma = np.array([1.0, -0.7, 0.0, 1.2])  # filter 2 scaled to nothing
    b = _branch(
        "temporal",
        x,
        w,
        rng.normal(size=TEMPORAL),
        gamma,
        bias_in_conv=True,
        inits=inits,
        nodes=nodes,
    )
    nodes.append(helper.make_node("Concat", [a, b], ["front"], name="concat", axis=2))

    nodes.append(helper.make_node("Unsqueeze", ["front", "axis3"], ["front4"], name="ExpandDims_1"))
    nodes.append(
        helper.make_node("Transpose", ["front4"], ["front_nchw"], name="T4", perm=[0, 3, 1, 2])
    )
    w = rng.normal(size=(MID, 1, 3, TIMBRAL + TEMPORAL))
    w[2] = 2e-27
    mid = _branch_mid("mid", "front_nchw", w, rng.normal(size=MID), inits, nodes, bn_before_relu)
    graph = helper.make_graph(
        nodes,
        "musicnn-in-miniature",
        [helper.make_tensor_value_info("patches", TensorProto.FLOAT, ["n", T, F])],
        [
            helper.make_tensor_value_info("front", TensorProto.FLOAT, ["n", T, TIMBRAL + TEMPORAL]),
            helper.make_tensor_value_info(mid, TensorProto.FLOAT, ["n", MID, T, 1]),
        ],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _branch_mid(
    name: str, x: str, w: np.ndarray, bias: np.ndarray, inits: list, nodes: list, bn_first: bool
) -> str:
    """The mid-end: Conv, Transpose, Add bias, ReLU, Transpose, BN (or BN before the ReLU)."""
    inits.append(numpy_helper.from_array(w.astype(np.float32), f"{name}/w"))
    inits.append(numpy_helper.from_array(bias.astype(np.float32), f"{name}/b"))
    nodes.append(
        helper.make_node(
            "Conv", [x, f"{name}/w"], [f"{name}/conv"], name=f"{name}/Conv", pads=[1, 0, 1, 0]
        )
    )
    nodes.append(
        helper.make_node(
            "Transpose", [f"{name}/conv"], [f"{name}/nhwc"], name=f"{name}/T1", perm=[0, 2, 3, 1]
        )
    )
    nodes.append(
        helper.make_node(
            "Add", [f"{name}/nhwc", f"{name}/b"], [f"{name}/add"], name=f"{name}/BiasAdd"
        )
    )
    gamma = np.array([1.0, -0.5, 0.8, 1.1, 0.9])
    if bn_first:
        nodes.append(
            helper.make_node(
                "Transpose", [f"{name}/add"], [f"{name}/nchw"], name=f"{name}/T2", perm=[0, 3, 1, 2]
            )
        )
        y = _bn(f"{name}/bn", f"{name}/nchw", gamma, inits, nodes)
        nodes.append(helper.make_node("Relu", [y], [f"{name}/relu"], name=f"{name}/Relu"))
        return f"{name}/relu"
    nodes.append(helper.make_node("Relu", [f"{name}/add"], [f"{name}/relu"], name=f"{name}/Relu"))
    nodes.append(
        helper.make_node(
            "Transpose", [f"{name}/relu"], [f"{name}/nchw"], name=f"{name}/T2", perm=[0, 3, 1, 2]
        )
    )
    return _bn(f"{name}/bn", f"{name}/nchw", gamma, inits, nodes)


def _run(model: onnx.ModelProto, x: np.ndarray) -> list[np.ndarray]:
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    return session.run(None, {"patches": x})


def _inputs() -> np.ndarray:
    rng = np.random.default_rng(3)
    return np.concatenate(
        [
            rng.uniform(0, LOG_MEL_MAX, size=(6, T, F)),
            rng.uniform(0, 4, size=(6, T, F)),
            np.zeros((1, T, F)),
            np.full((1, T, F), LOG_MEL_MAX),
        ]
    ).astype(np.float32)


def test_the_rewrite_gives_the_same_outputs_with_the_dead_filters_gone() -> None:
    model = _model()
    before = _run(model, _inputs())
    report = simplify(model)
    onnx.checker.check_model(model)
    after = _run(model, _inputs())

    assert report.layers == {
        # 6 constant, 14 live: two constant filters run again to fill a block of 16.
        "timbral/Conv": (16, TIMBRAL),
        "temporal/Conv": (TEMPORAL - 2, TEMPORAL),
        "mid/Conv": (MID - 1, MID),
    }
    for got, expected in zip(after, before, strict=True):
        assert got.shape == expected.shape
        # The live filters run the same arithmetic; only summation order may differ.
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    ops = [node.op_type for node in model.graph.node]
    assert ops.count("Conv") == 3
    assert not any(node.name == "timbral/BiasAdd" for node in model.graph.node)


def test_a_graph_is_rewritten_once() -> None:
    model = _model()
    simplify(model)
    with pytest.raises(SimplifyError, match="simplified already"):
        simplify(model)


def test_a_batch_norm_before_the_relu_is_refused() -> None:
    with pytest.raises(SimplifyError, match="mid/Conv: unexpected tail"):
        simplify(_model(bn_before_relu=True))
