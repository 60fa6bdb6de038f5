"""Export: ONNX (BatchNorm folded into the convolutions) plus the plate config
YAML that ``lpr_ocr.plate_model`` reads, then a check against PyTorch, the op
list and the one-thread latency."""
from __future__ import annotations

import copy
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from torch import nn

from .alphabet import IMG_HEIGHT, IMG_WIDTH, PAD
from .model import Deployed, PlateReader


def fold_batchnorm(net: PlateReader) -> PlateReader:
    """A copy with every Conv+BatchNorm pair merged into one Conv."""
    net = copy.deepcopy(net).eval()

    def fold(seq: nn.Sequential) -> None:
        items = list(seq)
        for i, layer in enumerate(items):
            if isinstance(layer, nn.Sequential):
                fold(layer)
            elif isinstance(layer, nn.BatchNorm2d) and i > 0 and isinstance(items[i - 1], nn.Conv2d):
                seq[i - 1] = torch.nn.utils.fusion.fuse_conv_bn_eval(items[i - 1], layer)
                seq[i] = nn.Identity()
    fold(net.features)
    return net


def plate_config(alphabet: str, slots: int) -> dict:
    return {'max_plate_slots': slots, 'alphabet': alphabet, 'pad_char': PAD, 'img_height': IMG_HEIGHT,
            'img_width': IMG_WIDTH, 'keep_aspect_ratio': False, 'interpolation': 'linear',
            'image_color_mode': 'rgb'}


def export(net: PlateReader, alphabet: str, out_dir: Path, name: str) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = out_dir / f'{name}.onnx'
    deployed = Deployed(fold_batchnorm(net)).eval()
    example = torch.randint(0, 256, (2, IMG_HEIGHT, IMG_WIDTH, 3), dtype=torch.uint8)
    torch.onnx.export(deployed, (example,), str(onnx_path), input_names=['input'], output_names=['plate'],
                      dynamic_axes={'input': {0: 'batch'}, 'plate': {0: 'batch'}}, opset_version=17,
                      dynamo=False)
    config_path = out_dir / f'{name}_plate_config.yaml'
    config_path.write_text(yaml.safe_dump(plate_config(alphabet, net.slots), allow_unicode=True, sort_keys=False),
                           encoding='utf-8')
    report = check(onnx_path, deployed, example)
    report.update(onnx=str(onnx_path), config=str(config_path))
    return report


def check(onnx_path: Path, deployed: nn.Module, example: torch.Tensor) -> dict:
    import onnx
    import onnxruntime as ort
    ops = sorted({node.op_type for node in onnx.load(str(onnx_path)).graph.node})
    session = ort_session(onnx_path)
    got = session.run(None, {'input': example.numpy()})[0]
    with torch.no_grad():
        want = deployed(example).numpy()
    return {'ops': ops, 'max_abs_diff_vs_torch': float(np.abs(got - want).max()),
            'ms_per_crop_1_thread': latency_ms(session)}


def ort_session(path: Path, threads: int = 1):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=['CPUExecutionProvider'])


def latency_ms(session, runs: int = 200) -> float:
    """Median one-crop latency (batch of 1, as the node runs it)."""
    image = np.random.default_rng(0).integers(0, 256, (1, IMG_HEIGHT, IMG_WIDTH, 3), dtype=np.uint8)
    name = session.get_inputs()[0].name
    for _ in range(10):
        session.run(None, {name: image})
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        session.run(None, {name: image})
        times.append(time.perf_counter() - t)
    return round(float(np.median(times)) * 1000, 3)
