"""Take musicnn's dead filters out of its ONNX graph: the same outputs for a third of the work.

Training left most of musicnn's convolution filters dead: their weights decayed to about 1e-28,
or its batch normalisation scales them to nothing, so their channel is the same number whatever
the music. In MSD_musicnn 190 of the 204 filters of one front-end convolution are such, 181 of
the other's, and 44 of the mid-end's 64; MTT_musicnn has fewer. The networks still compute every
one of them, on every frame and frequency, and then batch-normalise all of them before pooling
over frequency. This script rewrites tf2onnx's graph (``scripts/convert_musicnn.py`` calls it;
it needs only ``onnx`` and numpy, in the same throwaway environment) so that:

1. **Constant channels are constants.** For every front-end and mid-end filter it bounds the
   channel's output over every input the model can be given (interval arithmetic from the input
   range: ``log10(10000 S + 1)`` of a float16 mel power lies in [0, log10(10000 x 65504 + 1)];
   zero padding is inside that range after the input batch norm). A channel whose output can
   move by at most ``CONSTANT_RANGE`` (1e-4) is replaced by its value at zero input; its
   filter is not run. The bound holds for every input, the loudest possible in every band
   included, not only for some music.
   Each front-end convolution still runs a multiple of 16 filters (``CHANNEL_BLOCK``): the
   widest-ranging constant ones fill the last block.
2. **Pool first, then normalise.** In the front end each live filter is followed by ReLU, batch
   normalisation and a max over every frequency. ReLU and an affine map with a positive scale
   are non-decreasing, so the max can come first and the rest runs on one value per frame
   instead of every frequency. For a negative scale the max becomes a min: that filter's weights
   and bias are negated, its max taken, and the sign restored before the ReLU. Both are exact
   in floating point (rounding is monotonic; negation is exact).

The live channels are then put back in their original order among the constants, so everything
after the front end (the mid-end, the pooling, the dense layers) is untouched. The rewrite
refuses a graph that is not laid out as musicnn's (``SimplifyError``). ``simplify`` returns a
report of what it removed; ``convert_musicnn.py`` then holds the result to TensorFlow's outputs.

Standalone, on a file ``convert_musicnn.py`` wrote before this step::

    python scripts/simplify_musicnn.py IN.onnx OUT.onnx
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import onnx

CONSTANT_RANGE = 1e-4
"""A channel whose output can move by at most this much, over every possible input, is taken
for a constant. Such a channel is one of 561 feeding sums of values about 1 to 10 in size. On
476 real patches (the demo library and the reference clips) the networks' outputs moved by
float32 rounding with this bound exactly as with 1e-6 (penultimate at most 2.6e-6 from the
unsimplified model, tags 5.4e-7), and MTT_musicnn ran 22% faster; at 1e-3 the penultimate
moved by 2e-5, so the bound stops here."""

CHANNEL_BLOCK = 16
"""The front end's live filters are rounded up to a multiple of this. onnxruntime runs
convolutions in blocks of 16 channels (AVX-512; 8 with AVX2) and keeps the max pool after one
in that blocked layout only when the channels fill whole blocks; otherwise it first copies the
whole convolution output back to the plain layout. Running a few constant filters after all
costs less than the copy (MTT: 0.052 CPU s per 4 patches instead of 0.060)."""

LOG_MEL_MAX = float(np.log10(10000.0 * float(np.finfo(np.float16).max) + 1.0))
"""The largest network input: the front end holds mel power at float16's top before the log."""

PREFIX = "simplified/"
"""Names of the nodes and tensors this rewrite adds; a graph that has them was rewritten."""


class SimplifyError(Exception):
    """The graph is not laid out as tf2onnx's conversion of musicnn, or was rewritten already."""


@dataclass
class Report:
    """What the rewrite removed, layer by layer: name -> (filters kept, filters in all)."""

    layers: dict[str, tuple[int, int]] = field(default_factory=dict)

    def __str__(self) -> str:
        return ", ".join(f"{name} {kept}/{total}" for name, (kept, total) in self.layers.items())


@dataclass(frozen=True)
class _Branch:
    """One convolution with its per-channel tail, as found in the graph."""

    conv: onnx.NodeProto
    nodes: list[onnx.NodeProto]
    """The convolution and every node after it up to the batch norm, or the squeeze."""
    bias: np.ndarray
    bn: onnx.NodeProto
    pool: onnx.NodeProto | None


@dataclass(frozen=True)
class _Channels:
    """A rewritten front-end branch: its live channels and what the others are."""

    part: str | None
    """Tensor of the live channels [n, live, time, 1]; None when none is live."""
    constant: np.ndarray
    value: np.ndarray
    """Each channel's value at zero input: what a constant channel always is."""
    low: np.ndarray
    high: np.ndarray
    """Each channel's output range over every input."""


def simplify(proto: onnx.ModelProto) -> Report:
    """Rewrite ``proto`` in place (see the module docstring); what was removed."""
    from onnx import numpy_helper

    graph = proto.graph
    if any(node.name.startswith(PREFIX) for node in graph.node):
        raise SimplifyError("the graph was simplified already")
    rewrite = _Rewrite(graph, {t.name: numpy_helper.to_array(t) for t in graph.initializer})
    report = Report()
    input_bn = _single(
        [n for n in graph.node if n.op_type == "BatchNormalization"][:1], "an input batch norm"
    )
    lo, hi = _affine_range(rewrite, input_bn, 0.0, LOG_MEL_MAX)
    # Zero padding feeds the convolutions zeros as well as normalised input.
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    front = [n for n in rewrite.consumers(input_bn.output[0]) if n.op_type == "Conv"]
    if not front:
        raise SimplifyError("no convolution reads the input batch norm")
    concat = _single(
        {
            id(c): c
            for b in front
            for c in rewrite.consumers(rewrite.chain(b, "Squeeze")[-1].output[0])
        }.values(),
        "one concat of the front end",
    )
    channels: list[_Channels] = []
    for conv in sorted(front, key=lambda n: list(concat.input).index(rewrite.squeeze_of(n))):
        branch = rewrite.branch(conv, until="Squeeze")
        low, high = _conv_range(branch, rewrite.weights(conv), np.full(1, lo), np.full(1, hi))
        constant, value, out_low, out_high = _channel_ranges(rewrite, branch, low, high)
        constant = _whole_blocks(constant, out_high - out_low)
        live = np.flatnonzero(~constant)
        report.layers[conv.name] = (len(live), len(constant))
        part = rewrite.pooled_live(branch, live)
        channels.append(_Channels(part, constant, value, out_low, out_high))
    rewrite.reassemble(concat, channels)
    mid = rewrite.mid_end_conv(concat)
    branch = rewrite.branch(mid, until="BatchNormalization")
    # The mid-end pads time with zeros too.
    in_low = np.minimum(np.concatenate([c.low for c in channels]), 0.0)
    in_high = np.maximum(np.concatenate([c.high for c in channels]), 0.0)
    low, high = _conv_range(branch, rewrite.weights(mid), in_low, in_high)
    constant, value, _, _ = _channel_ranges(rewrite, branch, low, high)
    report.layers[mid.name] = (int((~constant).sum()), len(constant))
    rewrite.mid_end_live(branch, np.flatnonzero(~constant), value)
    rewrite.finish()
    return report


def _whole_blocks(constant: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """``constant`` with the fewest channels run again that makes the live ones a multiple of
    ``CHANNEL_BLOCK``, the widest-ranging first (running a filter is always exact)."""
    extra = -int((~constant).sum()) % CHANNEL_BLOCK
    if extra == 0 or extra > constant.sum():
        return constant
    candidates = np.flatnonzero(constant)
    widest = candidates[np.argsort(-spread[candidates], kind="stable")[:extra]]
    kept = constant.copy()
    kept[widest] = False
    return kept


def _single(items: Iterable[onnx.NodeProto], what: str) -> onnx.NodeProto:
    found = list(items)
    if len(found) != 1:
        raise SimplifyError(f"expected {what}, found {len(found)}")
    return found[0]


def _bn_params(rewrite: _Rewrite, bn: onnx.NodeProto) -> tuple[np.ndarray, np.ndarray]:
    """A batch norm's per-channel scale and shift in float64: y = scale x + shift."""
    gamma, beta, mean, var = (rewrite.init(name).astype(np.float64) for name in bn.input[1:])
    epsilon = next((a.f for a in bn.attribute if a.name == "epsilon"), 1e-5)
    scale = gamma / np.sqrt(var + epsilon)
    return scale, beta - mean * scale


def _affine_range(
    rewrite: _Rewrite, bn: onnx.NodeProto, lo: float, hi: float
) -> tuple[float, float]:
    scale, shift = _bn_params(rewrite, bn)
    if scale.size != 1:
        raise SimplifyError("the input batch norm has more than one channel")
    ends = sorted((float(scale[0] * lo + shift[0]), float(scale[0] * hi + shift[0])))
    return ends[0], ends[1]


def _conv_range(
    branch: _Branch, weights: np.ndarray, low: np.ndarray, high: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each filter's lowest and highest output when every input value of channel c (the last
    axis of a (filters, 1, time, width) kernel, as musicnn's are laid out) lies in
    [low[c], high[c]]; a length-1 range applies to every input."""
    w = weights.astype(np.float64).reshape(len(weights), -1, weights.shape[-1])
    low = np.broadcast_to(low, w.shape[-1])
    high = np.broadcast_to(high, w.shape[-1])
    top = np.maximum(w * high, w * low).sum(axis=(1, 2))
    bottom = np.minimum(w * high, w * low).sum(axis=(1, 2))
    bias = branch.bias.astype(np.float64)
    return bias + bottom, bias + top


def _channel_ranges(
    rewrite: _Rewrite, branch: _Branch, low: np.ndarray, high: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Which channels are constant after ReLU and the batch norm, their value at zero input,
    and every channel's output range."""
    scale, shift = _bn_params(rewrite, branch.bn)
    a = scale * np.maximum(low, 0.0) + shift
    b = scale * np.maximum(high, 0.0) + shift
    constant = np.abs(b - a) <= CONSTANT_RANGE
    value = (scale * np.maximum(branch.bias.astype(np.float64), 0.0) + shift).astype(np.float32)
    return constant, value, np.minimum(a, b), np.maximum(a, b)


class _Rewrite:
    """The graph being rewritten: lookups, and the nodes and constants to add and remove."""

    def __init__(self, graph: onnx.GraphProto, inits: dict[str, np.ndarray]) -> None:
        self.graph = graph
        self.inits = inits
        self.removed: set[str] = set()
        self.added: list[onnx.NodeProto] = []
        self.new_inits: list[onnx.TensorProto] = []
        self._counter = 0

    # -- lookups ------------------------------------------------------------------------------
    def init(self, name: str) -> np.ndarray:
        if name not in self.inits:
            raise SimplifyError(f"{name} is not a constant")
        return self.inits[name]

    def consumers(self, tensor: str) -> list[onnx.NodeProto]:
        return [n for n in self.graph.node if tensor in n.input]

    def chain(self, start: onnx.NodeProto, until: str) -> list[onnx.NodeProto]:
        """``start`` and its single consumers, up to the first ``until`` node."""
        nodes = [start]
        while nodes[-1].op_type != until:
            following = self.consumers(nodes[-1].output[0])
            if len(following) != 1 or len(nodes) > 12:
                raise SimplifyError(f"{start.name} does not lead to one {until}")
            nodes.append(following[0])
        return nodes

    def squeeze_of(self, conv: onnx.NodeProto) -> str:
        return self.chain(conv, "Squeeze")[-1].output[0]

    def weights(self, conv: onnx.NodeProto) -> np.ndarray:
        w = self.init(conv.input[1])
        if w.ndim != 4 or w.shape[1] != 1:
            raise SimplifyError(f"{conv.name}: expected a one-channel 2-D kernel, got {w.shape}")
        return w

    def branch(self, conv: onnx.NodeProto, *, until: str) -> _Branch:
        """The convolution, its bias (in the Conv or the Add after it), batch norm and pool."""
        nodes = self.chain(conv, until)
        kinds = [n.op_type for n in nodes]
        adds = [n for n in nodes if n.op_type == "Add"]
        if len(conv.input) > 2:
            bias = self.init(conv.input[2])
        elif len(adds) == 1:
            bias = self.init(adds[0].input[1])
        else:
            raise SimplifyError(f"{conv.name} has no bias")
        allowed = {"Conv", "Transpose", "Add", "Relu", "BatchNormalization", "MaxPool", "Squeeze"}
        if not set(kinds) <= allowed or kinds.count("Relu") != 1:
            raise SimplifyError(f"{conv.name}: unexpected tail {kinds}")
        if kinds.index("Relu") > kinds.index("BatchNormalization"):
            raise SimplifyError(f"{conv.name}: the batch norm comes before the ReLU")
        bn = next(n for n in nodes if n.op_type == "BatchNormalization")
        pool = next((n for n in nodes if n.op_type == "MaxPool"), None)
        if pool is not None and self.attribute(pool, "kernel_shape")[0] != 1:
            raise SimplifyError(f"{pool.name} pools over time; only frequency is handled")
        return _Branch(conv=conv, nodes=nodes, bias=bias, bn=bn, pool=pool)

    def mid_end_conv(self, concat: onnx.NodeProto) -> onnx.NodeProto:
        """The convolution that reads the front end's concat (through reshapes)."""
        tensor = concat.output[0]
        for _ in range(4):
            following = [n for n in self.consumers(tensor) if n.op_type != "Concat"]
            if len(following) != 1:
                break
            if following[0].op_type == "Conv":
                return following[0]
            tensor = following[0].output[0]
        raise SimplifyError("no single convolution reads the front end's concat")

    @staticmethod
    def attribute(node: onnx.NodeProto, name: str) -> object:
        from onnx import helper

        for attribute in node.attribute:
            if attribute.name == name:
                return helper.get_attribute_value(attribute)
        raise SimplifyError(f"{node.name} has no {name}")

    # -- building -----------------------------------------------------------------------------
    def name(self, stem: str) -> str:
        self._counter += 1
        return f"{PREFIX}{stem}_{self._counter}"

    def const(self, stem: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        name = self.name(stem)
        self.new_inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], output: str | None = None, **attrs: object) -> str:
        from onnx import helper

        output = output or self.name(op.lower())
        self.added.append(helper.make_node(op, inputs, [output], name=self.name(op), **attrs))
        return output

    def conv_live(self, branch: _Branch, live: np.ndarray, sign: np.ndarray) -> str:
        """The branch's convolution on its live filters only, bias inside, each filter times
        its sign."""
        conv = branch.conv
        w = self.weights(conv)[live] * sign[:, None, None, None]
        b = branch.bias[live] * sign
        attrs = {a.name: self.attribute(conv, a.name) for a in conv.attribute}
        attrs.pop("auto_pad", None)
        inputs = [conv.input[0], self.const("weights", w.astype(np.float32))]
        inputs.append(self.const("bias", b.astype(np.float32)))
        return self.node("Conv", inputs, **attrs)

    def batch_norm_live(self, bn: onnx.NodeProto, x: str, live: np.ndarray) -> str:
        params = [self.const("bn", self.init(name)[live]) for name in bn.input[1:]]
        epsilon = self.attribute(bn, "epsilon")
        return self.node("BatchNormalization", [x, *params], epsilon=epsilon)

    def pooled_live(self, branch: _Branch, live: np.ndarray) -> str | None:
        """A front-end branch on its live filters: conv, max over frequency, sign, ReLU, batch
        norm; [n, live, time, 1] (NCHW). None when no filter is live."""
        if branch.pool is None:
            raise SimplifyError(f"{branch.conv.name} has no pool over frequency")
        self.removed.update(n.name for n in branch.nodes)
        if live.size == 0:
            return None
        scale, _ = _bn_params(self, branch.bn)
        sign = np.where(scale[live] < 0, -1.0, 1.0).astype(np.float32)
        x = self.conv_live(branch, live, sign)
        pool_attrs = {a.name: self.attribute(branch.pool, a.name) for a in branch.pool.attribute}
        x = self.node("MaxPool", [x], **pool_attrs)
        x = self.node("Mul", [x, self.const("sign", sign.reshape(1, -1, 1, 1))])
        x = self.node("Relu", [x])
        return self.batch_norm_live(branch.bn, x, live)

    def in_order(
        self, parts: list[str], constant: np.ndarray, value: np.ndarray, axis: int, rank: int
    ) -> str:
        """Live channels (``parts``, concatenated on ``axis``) and the constants, in the
        original channel order: Pad with zeros, Gather, add the constants."""
        n_live = int((~constant).sum())
        order = np.empty(len(constant), np.int64)
        order[~constant] = np.arange(n_live)
        order[constant] = n_live + np.arange(int(constant.sum()))
        x = parts[0] if len(parts) == 1 else self.node("Concat", parts, axis=axis)
        pads = np.zeros(2 * rank, np.int64)
        pads[rank + axis] = int(constant.sum())
        x = self.node("Pad", [x, self.const("pads", pads)])
        x = self.node("Gather", [x, self.const("order", order)], axis=axis)
        fill = np.where(constant, value, 0).astype(np.float32)
        shape = [1] * rank
        shape[axis] = len(constant)
        return self.node("Add", [x, self.const("constants", fill.reshape(shape))])

    def reassemble(self, concat: onnx.NodeProto, channels: list[_Channels]) -> None:
        """The front end's concat [n, time, channels] from the live branches and constants."""
        parts = [c.part for c in channels if c.part is not None]
        constant = np.concatenate([c.constant for c in channels])
        value = np.concatenate([c.value for c in channels])
        x = self.in_order(parts, constant, value, axis=1, rank=4)  # [n, channels, time, 1]
        x = self.node("Transpose", [x], perm=[0, 2, 3, 1])
        self.node("Squeeze", [x, self.const("axes", np.array([2], np.int64))], concat.output[0])
        self.removed.add(concat.name)

    def mid_end_live(self, branch: _Branch, live: np.ndarray, value: np.ndarray) -> None:
        """The mid-end convolution on its live filters; its batch norm's output keeps its name."""
        if branch.pool is not None:
            raise SimplifyError(f"{branch.conv.name}: unexpected pool in the mid-end")
        constant = np.ones(len(value), bool)
        constant[live] = False
        self.removed.update(n.name for n in branch.nodes)
        x = self.conv_live(branch, live, np.ones(len(live), np.float32))
        x = self.node("Relu", [x])
        x = self.batch_norm_live(branch.bn, x, live)
        x = self.in_order([x], constant, value, axis=1, rank=4)
        self.node("Identity", [x], branch.bn.output[0])

    def finish(self) -> None:
        """Swap the removed nodes for the added ones, in an order that runs, and drop unused
        constants."""
        nodes = [n for n in self.graph.node if n.name not in self.removed] + self.added
        self.graph.initializer.extend(self.new_inits)
        ready = {i.name for i in self.graph.input} | {t.name for t in self.graph.initializer}
        ordered: list[onnx.NodeProto] = []
        while nodes:
            runnable = [n for n in nodes if all(not i or i in ready for i in n.input)]
            if not runnable:
                raise SimplifyError("the rewritten graph has a cycle or a missing input")
            for node in runnable:
                ordered.append(node)
                ready.update(node.output)
            nodes = [n for n in nodes if all(n is not r for r in runnable)]
        del self.graph.node[:]
        self.graph.node.extend(ordered)
        used = {name for node in self.graph.node for name in node.input}
        kept = [t for t in self.graph.initializer if t.name in used]
        del self.graph.initializer[:]
        self.graph.initializer.extend(kept)


def main(argv: list[str] | None = None) -> None:
    """Simplify one converted model file."""
    import onnx

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    args = parser.parse_args(argv)
    proto = onnx.load(args.source)
    try:
        report = simplify(proto)
    except SimplifyError as err:
        raise SystemExit(f"{args.source}: {err}") from None
    onnx.checker.check_model(proto)
    onnx.save(proto, args.target)
    print(f"{args.target}: filters kept {report}")


if __name__ == "__main__":
    sys.exit(main())
