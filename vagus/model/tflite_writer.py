"""Write a small float32 MLP as a .tflite flatbuffer, without TensorFlow.

The schema's object API (``ai_edge_litert.schema_py_generated``) is enough for a chain of
FULLY_CONNECTED layers with fused RELU and a final LOGISTIC (one layer and no hidden one is a
logistic regression, the shipped stress model), and keeping TensorFlow out means the
gateway and the training extra need nothing heavier than the LiteRT wheel. The numpy twin
:func:`mlp_forward` is the reference the exported file is tested against.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import flatbuffers
import numpy as np
import numpy.typing as npt
from ai_edge_litert import schema_py_generated as schema

FloatArray = npt.NDArray[np.float64]
Layer = tuple[npt.ArrayLike, npt.ArrayLike]  # (weights with shape (inputs, outputs), bias)

_TFLITE_IDENTIFIER = b"TFL3"
_SCHEMA_VERSION = 3


def mlp_forward(layers: Sequence[Layer], x: npt.ArrayLike) -> FloatArray:
    """ReLU hidden layers, a logistic output: the float model the .tflite must reproduce."""
    out = np.asarray(x, dtype=np.float64)
    for index, (weights, bias) in enumerate(layers):
        out = out @ np.asarray(weights, np.float64) + np.asarray(bias, np.float64)
        if index < len(layers) - 1:
            out = np.maximum(out, 0.0)
    return np.asarray(1.0 / (1.0 + np.exp(-out)), dtype=np.float64)


def _tensor(name: str, shape: list[int], buffer: int) -> schema.TensorT:
    tensor = schema.TensorT()
    tensor.name = name
    tensor.shape = shape
    tensor.type = schema.TensorType.FLOAT32
    tensor.buffer = buffer
    return tensor


def _buffer(data: npt.NDArray[np.float32] | None) -> schema.BufferT:
    buffer = schema.BufferT()
    if data is not None:
        buffer.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), dtype=np.uint8)
    return buffer


def _operator(opcode: int, inputs: list[int], outputs: list[int], relu: bool) -> schema.OperatorT:
    op = schema.OperatorT()
    op.opcodeIndex = opcode
    op.inputs = inputs
    op.outputs = outputs
    if opcode == 0:  # FULLY_CONNECTED is operator code 0 below
        options = schema.FullyConnectedOptionsT()
        options.fusedActivationFunction = (
            schema.ActivationFunctionType.RELU if relu else schema.ActivationFunctionType.NONE
        )
        op.builtinOptionsType = schema.BuiltinOptions.FullyConnectedOptions
        op.builtinOptions = options
    return op


def mlp_to_tflite(layers: Sequence[Layer], description: str = "vagus MLP") -> bytes:
    """Serialise ``layers`` (batch 1, float32) as a TFLite model; returns the file's bytes."""
    if not layers:
        raise ValueError("an MLP needs at least one layer")
    codes = []
    for builtin in (schema.BuiltinOperator.FULLY_CONNECTED, schema.BuiltinOperator.LOGISTIC):
        code = schema.OperatorCodeT()
        code.builtinCode = builtin
        code.deprecatedBuiltinCode = builtin
        code.version = 1
        codes.append(code)

    n_inputs = int(np.shape(layers[0][0])[0])
    buffers = [_buffer(None), _buffer(None)]  # 0: the schema's empty sentinel; 1: the input
    tensors = [_tensor("features", [1, n_inputs], 1)]
    operators = []
    current = 0
    for index, (weights, bias) in enumerate(layers):
        w = np.asarray(weights, dtype=np.float32)
        b = np.asarray(bias, dtype=np.float32).reshape(-1)
        if w.ndim != 2 or w.shape[1] != b.size or w.shape[0] != tensors[current].shape[1]:
            raise ValueError(f"layer {index}: weights {w.shape} do not chain with bias {b.shape}")
        buffers += [_buffer(w.T.copy()), _buffer(b)]  # TFLite stores FC weights as (out, in)
        tensors += [
            _tensor(f"dense{index}/weights", [b.size, w.shape[0]], len(buffers) - 2),
            _tensor(f"dense{index}/bias", [b.size], len(buffers) - 1),
        ]
        buffers.append(_buffer(None))
        tensors.append(_tensor(f"dense{index}/out", [1, b.size], len(buffers) - 1))
        out = len(tensors) - 1
        hidden = index < len(layers) - 1
        operators.append(_operator(0, [current, out - 2, out - 1], [out], relu=hidden))
        current = out
    buffers.append(_buffer(None))
    tensors.append(_tensor("probability", tensors[current].shape, len(buffers) - 1))
    operators.append(_operator(1, [current], [len(tensors) - 1], relu=False))

    graph = schema.SubGraphT()
    graph.tensors = tensors
    graph.inputs = [0]
    graph.outputs = [len(tensors) - 1]
    graph.operators = operators
    graph.name = "main"
    model = schema.ModelT()
    model.version = _SCHEMA_VERSION
    model.description = description
    model.operatorCodes = codes
    model.subgraphs = [graph]
    model.buffers = buffers
    builder = flatbuffers.Builder(4096)
    builder.Finish(model.Pack(builder), file_identifier=_TFLITE_IDENTIFIER)
    return bytes(builder.Output())


def read_mlp(blob: bytes) -> list[Layer]:
    """The float weights back out of a file written here: the inverse the tests rely on."""
    model = schema.ModelT.InitFromPackedBuf(blob, 0)
    graph = model.subgraphs[0]
    layers: list[Layer] = []
    for op in graph.operators:
        if len(op.inputs) == 3:  # FULLY_CONNECTED: input, weights (out, in), bias
            w, b = (graph.tensors[i] for i in op.inputs[1:])
            weights = np.frombuffer(bytes(model.buffers[w.buffer].data), np.float32)
            bias = np.frombuffer(bytes(model.buffers[b.buffer].data), np.float32)
            layers.append((weights.reshape(w.shape).T, bias))
    return layers


def write_mlp(layers: Sequence[Layer], path: Path, description: str = "vagus MLP") -> None:
    path.write_bytes(mlp_to_tflite(layers, description))
