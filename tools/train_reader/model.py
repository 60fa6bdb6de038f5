"""The plate reader: a small CNN with one classifier per character slot.

Input uint8 NHWC [N, 64, 128, 3] RGB (scaled to [-1, 1] inside), output
[N, slots, len(alphabet)] softmax. Plain ops only (Conv, BatchNorm folded at
export, Relu, MaxPool, Gemm, Reshape/Transpose, Softmax), so a Hailo-8
compiler can take it later.
"""
from __future__ import annotations

import torch
from torch import nn

# (out channels, then max-pool kernel or None) per 3x3 conv block.
BLOCKS = ((24, None), (48, (2, 2)), (80, None), (96, (2, 2)), (128, None), (160, (2, 2)))


def _block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class PlateReader(nn.Module):
    def __init__(self, slots: int, classes: int, hidden: int = 256, squeeze: int = 32):
        super().__init__()
        self.slots, self.classes = slots, classes
        layers: list[nn.Module] = [_block(3, BLOCKS[0][0], stride=2)]   # 64x128 -> 32x64
        cin = BLOCKS[0][0]
        for cout, pool in BLOCKS[1:]:
            layers.append(_block(cin, cout))
            if pool:
                layers.append(nn.MaxPool2d(pool))
            cin = cout
        layers += [nn.Conv2d(cin, squeeze, 1, bias=False), nn.BatchNorm2d(squeeze), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers)                         # -> squeeze x 4 x 8
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(squeeze * 4 * 8, hidden), nn.ReLU(inplace=True),
                                  nn.Dropout(0.1), nn.Linear(hidden, slots * classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Float NCHW in [-1, 1] -> logits [N, slots, classes]."""
        return self.head(self.features(x)).view(-1, self.slots, self.classes)


def to_input(batch_uint8_nhwc: torch.Tensor) -> torch.Tensor:
    """uint8 NHWC -> float NCHW in [-1, 1] (the exported model does this itself)."""
    return batch_uint8_nhwc.permute(0, 3, 1, 2).float() * (1 / 127.5) - 1.0


class Deployed(nn.Module):
    """What gets exported: uint8 NHWC in, softmax per slot out."""

    def __init__(self, net: PlateReader):
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(to_input(image)), dim=-1)


def parameter_count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
