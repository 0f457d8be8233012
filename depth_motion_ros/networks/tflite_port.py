"""Port of a quantised TensorFlow Lite MobileNetV2 1.0 classifier to `MobileNetV2Classifier`, without TensorFlow.

The flatbuffer is read with the `tflite` package (the schema's generated Python classes). Each constant
tensor carries its quantisation, so the float weights are ``scale * (q - zero_point)``, with one scale and
zero point per output channel where the file quantised per channel (`quantized_dimension` names the axis);
biases are int32 with the scale of input x weight. Batch norm is already folded into the convolutions.

Layouts: TFLite is NHWC; a convolution's weights are [out, kh, kw, in] (PyTorch: [out, in, kh, kw]) and a
depthwise convolution's are [1, kh, kw, channels] (PyTorch: [channels, 1, kh, kw]).

The graph is not interpreted op by op: its convolutions are matched, in order, to the convolutions of the
known architecture, and every kind, shape, stride, padding and fused activation is checked on the way, so a
file of another network is refused instead of half-loaded. `test/test_tflite_port.py` checks the result
against the TFLite interpreter's logits.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .mobilenet_v2 import MobileNetV2Classifier

_TENSOR_DTYPES = {"UINT8": np.uint8, "INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "FLOAT32": np.float32}


class TflitePortError(ValueError):
    """The file is not a TFLite MobileNetV2 1.0 classifier of the form this port reads."""


@dataclass(frozen=True)
class Tensor:
    """One tensor of the graph: its shape, quantisation and, for constants, its stored values."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: np.ndarray | None
    zero_point: np.ndarray | None
    axis: int
    data: np.ndarray | None

    def dequantised(self) -> np.ndarray:
        """The constant's float values: scale * (q - zero_point), per channel along `axis` where so stored."""
        if self.data is None:
            raise TflitePortError(f"tensor {self.name!r} holds no constant data")
        values = self.data.astype(np.float64)
        if self.scale is None or self.dtype == "FLOAT32":
            return values.astype(np.float32)
        shape = [1] * values.ndim
        if self.scale.size > 1:
            shape[self.axis] = self.scale.size
        assert self.zero_point is not None  # a quantised tensor carries both
        scale = self.scale.astype(np.float64).reshape(shape)
        zero_point = self.zero_point.astype(np.float64).reshape(shape)
        return (scale * (values - zero_point)).astype(np.float32)


@dataclass(frozen=True)
class Operator:
    """One operator: builtin name, tensor indices and, for convolutions, the options the port checks."""

    kind: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    stride: tuple[int, int] | None = None
    padding: str | None = None
    activation: str | None = None
    depth_multiplier: int = 1
    dilation: tuple[int, int] = (1, 1)


@dataclass(frozen=True)
class Graph:
    """The first subgraph of a TFLite file."""

    tensors: list[Tensor]
    operators: list[Operator]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


def _names(enum: type) -> dict[int, str]:
    return {value: name for name, value in vars(enum).items() if not name.startswith("_")}


def read_graph(path: str | os.PathLike) -> Graph:
    """Parse the file's first subgraph: tensors (with constant data) and operators (with conv options)."""
    import tflite  # the flatbuffer schema; only the port needs it

    raw = Path(path).read_bytes()
    model = tflite.Model.GetRootAsModel(raw, 0)
    if model.SubgraphsLength() < 1:
        raise TflitePortError(f"{path}: no subgraph")
    graph = model.Subgraphs(0)
    type_names = _names(tflite.TensorType)
    op_names = _names(tflite.BuiltinOperator)
    padding_names = _names(tflite.Padding)
    activation_names = _names(tflite.ActivationFunctionType)

    tensors = []
    for index in range(graph.TensorsLength()):
        entry = graph.Tensors(index)
        dtype = type_names[entry.Type()]
        buffer = model.Buffers(entry.Buffer())
        data = None
        if buffer.Offset() > 1:  # large models keep buffers after the flatbuffer, at an absolute offset
            data = np.frombuffer(raw, np.uint8, buffer.Size(), buffer.Offset())
        elif buffer.DataLength() > 0:
            data = buffer.DataAsNumpy()
        shape = tuple(int(v) for v in entry.ShapeAsNumpy()) if entry.ShapeLength() else ()
        if data is not None:
            data = np.frombuffer(data.tobytes(), _TENSOR_DTYPES[dtype]).reshape(shape)
        quantisation = entry.Quantization()
        scale = zero_point = None
        axis = 0
        if quantisation is not None and quantisation.ScaleLength() > 0:
            scale = quantisation.ScaleAsNumpy().copy()
            zero_point = quantisation.ZeroPointAsNumpy().copy()
            axis = quantisation.QuantizedDimension()
        tensors.append(Tensor(entry.Name().decode(), shape, dtype, scale, zero_point, axis, data))

    operators = []
    for index in range(graph.OperatorsLength()):
        entry = graph.Operators(index)
        code = model.OperatorCodes(entry.OpcodeIndex())
        kind = op_names[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
        inputs = tuple(int(v) for v in entry.InputsAsNumpy())
        outputs = tuple(int(v) for v in entry.OutputsAsNumpy())
        if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            options_type = tflite.Conv2DOptions if kind == "CONV_2D" else tflite.DepthwiseConv2DOptions
            table = entry.BuiltinOptions()
            options = options_type()
            options.Init(table.Bytes, table.Pos)
            operators.append(Operator(
                kind, inputs, outputs, (options.StrideH(), options.StrideW()), padding_names[options.Padding()],
                activation_names[options.FusedActivationFunction()],
                options.DepthMultiplier() if kind == "DEPTHWISE_CONV_2D" else 1,
                (options.DilationHFactor(), options.DilationWFactor())))
        else:
            operators.append(Operator(kind, inputs, outputs))
    return Graph(tensors, operators, tuple(int(v) for v in graph.InputsAsNumpy()),
                 tuple(int(v) for v in graph.OutputsAsNumpy()))


def input_quantisation(graph: Graph) -> tuple[float, float]:
    """(scale, zero point) of the uint8 image input: the network's float input is scale * (pixel - zero point)."""
    tensor = graph.tensors[graph.inputs[0]]
    if tensor.scale is None or tensor.zero_point is None or tensor.scale.size != 1:
        raise TflitePortError(f"input {tensor.name!r} is not a per-tensor quantised image")
    return float(tensor.scale[0]), float(tensor.zero_point[0])


def _torch_weight(operator: Operator, weight: np.ndarray) -> np.ndarray:
    if operator.kind == "CONV_2D":
        return weight.transpose(0, 3, 1, 2)  # [out, kh, kw, in] -> [out, in, kh, kw]
    return weight.transpose(3, 0, 1, 2)      # [1, kh, kw, channels] -> [channels, 1, kh, kw]


def port_mobilenet_v2(path: str | os.PathLike) -> MobileNetV2Classifier:
    """The classifier with the file's dequantised weights, after checking the graph is MobileNetV2 1.0."""
    graph = read_graph(path)
    classifier = MobileNetV2Classifier()
    layers = classifier.conv_layers()
    convolutions = [op for op in graph.operators if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    if len(convolutions) != len(layers):
        raise TflitePortError(f"{path}: {len(convolutions)} convolutions, MobileNetV2 1.0 has {len(layers)}")
    residuals = sum(1 for block in classifier.encoder.blocks if block.residual)
    adds = sum(1 for op in graph.operators if op.kind == "ADD")
    if adds != residuals:
        raise TflitePortError(f"{path}: {adds} ADD operators, MobileNetV2 1.0 has {residuals} residual blocks")
    if not any(op.kind in ("AVERAGE_POOL_2D", "MEAN") for op in graph.operators):
        raise TflitePortError(f"{path}: no global average pooling")
    for index, (operator, layer) in enumerate(zip(convolutions, layers, strict=True)):
        expected_kind = "DEPTHWISE_CONV_2D" if layer.groups > 1 else "CONV_2D"
        expected_activation = "RELU6" if layer.relu6 else "NONE"
        where = f"{path}: convolution {index}"
        if operator.kind != expected_kind:
            raise TflitePortError(f"{where} is {operator.kind}, expected {expected_kind}")
        if operator.stride != tuple(layer.stride) or operator.dilation != (1, 1) or operator.depth_multiplier != 1:
            raise TflitePortError(f"{where}: stride {operator.stride}, dilation {operator.dilation}, depth "
                                  f"multiplier {operator.depth_multiplier}; expected stride {tuple(layer.stride)}")
        if operator.padding != "SAME" or operator.activation != expected_activation:
            raise TflitePortError(f"{where}: padding {operator.padding}, activation {operator.activation}; "
                                  f"expected SAME, {expected_activation}")
        weight = _torch_weight(operator, graph.tensors[operator.inputs[1]].dequantised())
        bias = graph.tensors[operator.inputs[2]].dequantised()
        layer_bias = layer.bias
        assert layer_bias is not None  # every ported convolution is built with a bias
        if weight.shape != tuple(layer.weight.shape) or bias.shape != tuple(layer_bias.shape):
            raise TflitePortError(f"{where}: weights {weight.shape}, bias {bias.shape}; expected "
                                  f"{tuple(layer.weight.shape)}, {tuple(layer_bias.shape)}")
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(weight)))
            layer_bias.copy_(torch.from_numpy(bias))
    return classifier.eval()


def imagenet_sample(image_path: str | os.PathLike, size: int = 224) -> np.ndarray:
    """An image file as the classifier's uint8 RGB input [size, size, 3]: resized whole (area interpolation),
    as the TFLite classification examples do, without cropping."""
    import cv2

    bgr = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f"cannot read image {image_path}")
    return cv2.cvtColor(cv2.resize(bgr, (size, size), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)


def classifier_input(image: np.ndarray, scale: float, zero_point: float) -> torch.Tensor:
    """uint8 [H, W, 3] -> the float input [1, 3, H, W] that the quantised graph's input stands for."""
    values = (image.astype(np.float32) - zero_point) * scale
    return torch.from_numpy(np.ascontiguousarray(values.transpose(2, 0, 1)))[None]
