"""ONNX export: a trained `.keras` model as `<name>.onnx` for ONNX Runtime, with fewer nodes to run.

Keras exports a flatten as a Reshape whose shape is computed at run time (Shape, Gather, Slice, Concat,
Casts) after a transpose back to channels-last, and a batch norm after a dense layer as a multiply and
an add. For a single drawing these small nodes cost as much as a convolution, so the export folds them
into constants and into the dense kernels. The penultimate features are a second output, for the
nearest-neighbour index. A model declared with integer features then computes them in 8-bit integers
(see feature_nodes).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import keras
import numpy as np
import onnx
from onnx import numpy_helper

import digitlib.models  # noqa: F401  registers the custom layers saved in the model files
from digitlib.artifacts import EMBEDDING_OUTPUT, SOURCE_HASH_KEY, ArtifactError, ModelFiles, file_sha256
from digitlib.data import load_mnist
from digitlib.registry import spec

CHANNELS_LAST = [0, 2, 3, 1]
# Nodes between a convolution and a flatten that keep its channel count.
CHANNEL_PRESERVING = ("Relu", "MaxPool", "Add", "Mul")
# How many MNIST training digits measure the ranges of the 8-bit activations (docs/models.md).
CALIBRATION_IMAGES = 1000


def expose_embedding(model: onnx.ModelProto) -> str:
    """Add the input of the last dense layer (the penultimate features) to the graph's outputs; its name."""
    graph = model.graph
    last_dense = [node for node in graph.node if node.op_type in ("MatMul", "Gemm")][-1]
    graph.output.append(onnx.helper.make_tensor_value_info(last_dense.input[0], onnx.TensorProto.FLOAT, None))
    return last_dense.input[0]


def _users(graph: onnx.GraphProto) -> dict[str, list]:
    """For each tensor name, the nodes that read it."""
    users: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    return users


def _only_user(users: dict[str, list], name: str, op_type: str) -> onnx.NodeProto | None:
    """The one node reading `name` if it is an `op_type`, else None."""
    readers = users.get(name, [])
    return readers[0] if len(readers) == 1 and readers[0].op_type == op_type else None


def _conv_channels(producers: dict, weights: dict, name: str) -> int | None:
    """The channel count of tensor `name` when it comes from a convolution, else None."""
    node = producers.get(name)
    while node is not None and node.op_type in CHANNEL_PRESERVING:
        node = producers.get(node.input[0])
    if node is not None and node.op_type == "Conv" and node.input[1] in weights:
        return int(weights[node.input[1]].dims[0])
    return None


def fold_flatten(graph: onnx.GraphProto) -> None:
    """Give each flatten before a dense layer a constant shape, and flatten channels-first where it can."""
    weights = {tensor.name: tensor for tensor in graph.initializer}
    users, producers = _users(graph), {out: node for node in graph.node for out in node.output}
    for node in list(graph.node):
        if node.op_type != "Reshape" or node.input[1] in weights:
            continue
        dense = _only_user(users, node.output[0], "MatMul")
        if dense is None or dense.input[1] not in weights:
            continue
        kernel = numpy_helper.to_array(weights[dense.input[1]])
        shape = f"{node.name}/constant_shape"
        graph.initializer.append(numpy_helper.from_array(np.array([-1, kernel.shape[0]], np.int64), shape))
        node.input[1] = shape
        transpose = producers.get(node.input[0])
        channels = None
        if (
            transpose is not None
            and transpose.op_type == "Transpose"
            and list(transpose.attribute[0].ints) == CHANNELS_LAST
        ):
            channels = _conv_channels(producers, weights, transpose.input[0])
        if channels:
            # The same products in another order: the kernel's rows follow the channels-first features.
            rows = kernel.reshape(-1, channels, kernel.shape[1]).transpose(1, 0, 2).reshape(kernel.shape)
            weights[dense.input[1]].CopyFrom(
                numpy_helper.from_array(np.ascontiguousarray(rows), dense.input[1])
            )
            node.input[0] = transpose.input[0]


def fold_scales(graph: onnx.GraphProto) -> None:
    """Fold a per-feature multiply after a dense layer (a batch norm's scale) into its kernel."""
    weights = {tensor.name: tensor for tensor in graph.initializer}
    users = _users(graph)
    outputs = {output.name for output in graph.output}
    for node in list(graph.node):
        if node.op_type != "MatMul" or node.input[1] not in weights:
            continue
        multiply = _only_user(users, node.output[0], "Mul")
        if multiply is None or multiply.output[0] in outputs:
            continue
        scale_name = multiply.input[1] if multiply.input[0] == node.output[0] else multiply.input[0]
        if scale_name not in weights:
            continue
        kernel, scale = (
            numpy_helper.to_array(weights[node.input[1]]),
            numpy_helper.to_array(weights[scale_name]),
        )
        if scale.size != kernel.shape[1]:
            continue
        scaled = (kernel * scale.reshape(-1)).astype(kernel.dtype)
        weights[node.input[1]].CopyFrom(numpy_helper.from_array(scaled, node.input[1]))
        for reader in users.get(multiply.output[0], []):
            for i, name in enumerate(reader.input):
                if name == multiply.output[0]:
                    reader.input[i] = node.output[0]
        graph.node.remove(multiply)


def drop_unused(graph: onnx.GraphProto) -> None:
    """Remove the nodes and constants no graph output depends on."""
    needed = {output.name for output in graph.output}
    kept = set()
    for index in range(len(graph.node) - 1, -1, -1):
        node = graph.node[index]
        if any(name in needed for name in node.output):
            kept.add(index)
            needed.update(node.input)
    for index in range(len(graph.node) - 1, -1, -1):
        if index not in kept:
            del graph.node[index]
    for index in range(len(graph.initializer) - 1, -1, -1):
        if graph.initializer[index].name not in needed:
            del graph.initializer[index]


def simplify(model: onnx.ModelProto) -> None:
    """Fold what Keras's export computes at run time into constants, and drop what is left unused."""
    fold_flatten(model.graph)
    fold_scales(model.graph)
    drop_unused(model.graph)


def _reads_channels(node: onnx.NodeProto, weights: dict) -> int:
    """How many channels a convolution reads (its kernel's second axis)."""
    return int(weights[node.input[1]].dims[1]) if node.input[1] in weights else 0


def feature_nodes(graph: onnx.GraphProto) -> list[str]:
    """The nodes run in 8 bits: from the first convolution of many channels to the penultimate dense layer.

    Empty for a network without such a convolution. The first convolution reads one channel: too few
    products per pixel to pay for converting its input. The head, from the penultimate dense layer's
    output on, stays float, so that the probabilities and the features keep their precision.
    """
    weights = {tensor.name: tensor for tensor in graph.initializer}
    nodes = list(graph.node)
    convolutions = [i for i, n in enumerate(nodes) if n.op_type == "Conv" and _reads_channels(n, weights) > 1]
    dense = [i for i, n in enumerate(nodes) if n.op_type in ("MatMul", "Gemm")]
    if not convolutions or len(dense) < 2:
        return []
    return [node.name for node in nodes[convolutions[0] : dense[-2] + 1]]


def calibration_images(mnist: str | os.PathLike | None) -> np.ndarray:
    """The MNIST training digits whose activations set the 8-bit ranges: (N, 28, 28) float32 in [0, 1]."""
    (x_train, _), _ = load_mnist(mnist)
    return x_train[:CALIBRATION_IMAGES].astype(np.float32) / 255.0


def quantize_features(model: onnx.ModelProto, path: Path, images: np.ndarray) -> None:
    """Save `model` at `path` with its feature nodes in 8-bit integers, ranges measured on `images`."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    nodes = feature_nodes(model.graph)
    if not nodes:
        onnx.save(model, str(path))
        return
    name = model.graph.input[0].name
    shape = [d.dim_value or 1 for d in model.graph.input[0].type.tensor_type.shape.dim]
    batches = iter([{name: image.reshape(shape)} for image in images])

    class Images(CalibrationDataReader):
        def get_next(self) -> dict | None:
            return next(batches, None)

    # It advises "pre-processing" the graph, which `simplify` has done for these graphs.
    logging.disable(logging.WARNING)
    try:
        # Signed 7-bit weights: sums of two products then fit ONNX Runtime's 16-bit lanes on CPUs without
        # VNNI instructions, so every x86 CPU gives the same answers; full 8 bits can saturate there.
        quantize_static(
            model,
            path,
            Images(),
            quant_format=QuantFormat.QDQ,
            nodes_to_quantize=nodes,
            per_channel=True,
            reduce_range=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
    finally:
        logging.disable(logging.NOTSET)


def load_keras_model(path: Path) -> keras.Model:
    """Load a `.keras` file for inference, with a readable error if it is broken."""
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as error:  # Keras raises many types for a corrupt or foreign file
        raise ArtifactError(f"cannot load model {path}: {error}") from error


def export_onnx(files: ModelFiles, mnist: str | os.PathLike | None = None) -> Path:
    """Write `<name>.onnx` from `<name>.keras`, and its companions', tagged with their sources' hashes."""
    model_spec = spec(files.name)
    sources = [(files.model, files.onnx)]
    if model_spec.companion is not None:
        sources.append((files.companion, files.companion_onnx))
    if model_spec.has_drawn_companion:
        sources.append((files.drawn_companion, files.drawn_companion_onnx))
    models = [(load_keras_model(source), source, target) for source, target in sources]
    # Before anything is written: without its calibration digits there is no export to make.
    calibration = calibration_images(mnist) if model_spec.integer_features else None
    for model, source, target in models:
        export_network(model, source, target, calibration)
    return files.onnx


def export_network(model: keras.Model, source: Path, target: Path, calibration: np.ndarray | None) -> None:
    """Write one network as ONNX at `target`, its features in 8 bits when given calibration digits."""
    # Keras exports only a model that has been called.
    model(np.zeros((1, *model.input_shape[1:]), np.float32))
    tmp = target.with_name(target.name + ".tmp")
    model.export(str(tmp), format="onnx", verbose=False)
    exported = onnx.load(str(tmp))
    embedding = expose_embedding(exported)
    simplify(exported)
    onnx.helper.set_model_props(exported, {SOURCE_HASH_KEY: file_sha256(source), EMBEDDING_OUTPUT: embedding})
    if calibration is None:
        onnx.save(exported, str(tmp))
    else:
        quantize_features(exported, tmp, calibration)
    os.replace(tmp, target)
