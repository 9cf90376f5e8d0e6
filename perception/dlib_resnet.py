"""dlib's face recognition ResNet (`dlib_face_recognition_resnet_model_v1.dat`, 128-d), run by torch.

Why: the prebuilt dlib wheel (dlib-bin) runs its networks without BLAS, ~77 ms of CPU a face
here; the same network as torch convolutions costs ~7 ms and returns the same vectors (within
float rounding: tests/perception/test_dlib_resnet.py compares both on real faces). dlib still
finds the 5 landmarks and cuts the aligned 150×150 chip; only the network's forward pass moved.

The weights are read from dlib's own model file, the one the face-recognition-models package
installs. Its layout (dlib's `serialize`, outermost layer first, then each layer's details
innermost first, i.e. in forward order):
- an integer is one header byte (the number of bytes that follow, 0x80 set when negative), then
  those bytes, little-endian; a string is its length, then its bytes; a scalar float is a
  mantissa and an exponent, two integers;
- a tensor is a version integer (2), four dimensions, then raw little-endian float32 values;
- each layer's details start with its type name: `con_4` (a tensor holding the filters then the
  biases; filters, rows, columns, strides, paddings), `affine_` (gamma then beta), `relu_`,
  `max_pool_2` / `avg_pool_2` (rows, columns, strides, paddings; 0 rows means the whole map),
  `add_prev_`, `fc_2` (outputs, inputs, then the inputs × outputs weights).
Only what the forward pass needs is read; the training state between layers is skipped.

The architecture, read off the file's layer sequence: a 7×7/2 convolution, 3×3/2 max-pool, then
residual blocks (conv-affine-relu-conv-affine, plus the block's input, relu). A block whose
first convolution has stride 2 adds a 2×2/2 average pool of its input instead; dlib adds
tensors of different shapes by zero-filling the smaller one (channels and, since its stride-2
convolutions are unpadded, a row and column), and so does `_add`. An average over the whole
map and a 256 → 128 linear layer end it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

if TYPE_CHECKING:
    import torch

# dlib's type names, each serialised as a length-prefixed string at the start of a layer's details.
_LAYERS = (
    "input_rgb_image_sized",
    "con_4",
    "affine_",
    "relu_",
    "max_pool_2",
    "avg_pool_2",
    "add_prev_",
    "fc_2",
)
CHIP = 150


class ModelFileError(ValueError):
    """The file is not the dlib network this module knows how to run."""


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def int(self) -> int:
        if self.pos >= len(self.data):
            raise ModelFileError("the file ends inside a layer")
        head = self.data[self.pos]
        size = head & 0x0F
        value = int.from_bytes(self.data[self.pos + 1 : self.pos + 1 + size], "little")
        self.pos += 1 + size
        return -value if head & 0x80 else value

    def float(self) -> float:
        mantissa = self.int()
        return float(np.ldexp(float(mantissa), self.int()))

    def tensor(self) -> np.ndarray:
        if (version := self.int()) != 2:
            raise ModelFileError(f"tensor format {version} at byte {self.pos}")
        dims = [self.int() for _ in range(4)]
        count = int(np.prod(dims))
        if self.pos + 4 * count > len(self.data):
            raise ModelFileError("the file ends inside a tensor")
        values = np.frombuffer(self.data, "<f4", count, self.pos).copy()
        self.pos += 4 * count
        return values

    def next_layer(self) -> str | None:
        """Moves past the next layer's type name and returns it; None at the end of the file."""
        found = []
        for name in _LAYERS:
            tag = bytes([1, len(name)]) + name.encode()
            at = self.data.find(tag, self.pos)
            if at >= 0:
                found.append((at, name, len(tag)))
        if not found:
            return None
        at, name, length = min(found)
        self.pos = at + length
        return name


@dataclass
class _Conv:
    weight: np.ndarray  # out, in, rows, cols
    bias: np.ndarray
    stride: int
    padding: int


def _read_layers(data: bytes) -> list[tuple[str, Any]]:
    """(type name, what the forward pass needs of it) for every layer, in forward order."""
    r = _Reader(data)
    layers: list[tuple[str, Any]] = []
    while (name := r.next_layer()) is not None:
        if name == "input_rgb_image_sized":
            means = np.array([r.float(), r.float(), r.float()], np.float32)
            size = (r.int(), r.int())
            if size != (CHIP, CHIP):
                raise ModelFileError(f"input size {size}, expected {CHIP}×{CHIP}")
            layers.append((name, means))
        elif name == "con_4":
            params = r.tensor()
            filters, rows, cols, stride_y, stride_x, pad_y, pad_x = (r.int() for _ in range(7))
            if rows != cols or stride_y != stride_x or pad_y != pad_x:
                raise ModelFileError("non-square convolution")
            n_in = (params.size - filters) // (filters * rows * cols)
            weight = params[: filters * n_in * rows * cols].reshape(filters, n_in, rows, cols)
            layers.append((name, _Conv(weight, params[-filters:], stride_y, pad_y)))
        elif name == "affine_":
            params = r.tensor()
            half = params.size // 2
            layers.append((name, (params[:half], params[half:])))
        elif name in ("max_pool_2", "avg_pool_2"):
            rows, cols, stride_y, stride_x, pad_y, pad_x = (r.int() for _ in range(6))
            if pad_y or pad_x or rows != cols or stride_y != stride_x:
                raise ModelFileError(f"{name}: unsupported geometry")
            layers.append((name, (rows, stride_y)))
        elif name == "fc_2":
            outputs, inputs = r.int(), r.int()
            layers.append((name, r.tensor().reshape(inputs, outputs)))
        else:
            layers.append((name, None))
    return layers


class _TorchConv(NamedTuple):
    weight: torch.Tensor
    bias: torch.Tensor
    stride: int
    padding: int


# A residual block: two convolutions and, for a block that halves the map, the pool (size,
# stride) its input goes through before the sum.
_Block = tuple[_TorchConv, _TorchConv, tuple[int, int] | None]
_STEM = ["input_rgb_image_sized", "con_4", "affine_", "relu_", "max_pool_2"]
_BLOCK = ["con_4", "affine_", "relu_", "con_4", "affine_"]


class DlibResnet:
    """Aligned 150×150 RGB chips (uint8, N×150×150×3) → N×128 float32, as dlib computes them."""

    def __init__(self, path: str | Path) -> None:
        layers = _read_layers(Path(path).read_bytes())
        kinds = [k for k, _ in layers]
        if kinds[:5] != _STEM:
            raise ModelFileError(f"not dlib's face recognition ResNet: it starts {kinds[:5]}")
        self._means = layers[0][1].reshape(1, 3, 1, 1)
        self._stem = _fold(layers[1][1], layers[2][1])
        self._stem_pool: tuple[int, int] = layers[4][1]
        self._blocks: list[_Block] = []
        i = len(_STEM)
        while kinds[i : i + 1] == ["con_4"]:
            pooled = kinds[i + 5 : i + 6] == ["avg_pool_2"]
            expected = _BLOCK + (["avg_pool_2", "add_prev_", "relu_"] if pooled else ["add_prev_", "relu_"])
            if kinds[i : i + len(expected)] != expected:
                raise ModelFileError(f"unexpected block at layer {i}: {kinds[i : i + len(expected)]}")
            first, second = _fold(layers[i][1], layers[i + 1][1]), _fold(layers[i + 3][1], layers[i + 4][1])
            self._blocks.append((first, second, layers[i + 5][1] if pooled else None))
            i += len(expected)
        if kinds[i:] != ["avg_pool_2", "fc_2"] or layers[i][1] != (0, 1):
            raise ModelFileError(f"unexpected head {kinds[i:]}")
        self._fc: np.ndarray = layers[i + 1][1]

    def __call__(self, chips: np.ndarray) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        if chips.ndim != 4 or chips.shape[1:] != (CHIP, CHIP, 3):
            raise ValueError(f"expected N×{CHIP}×{CHIP}×3 chips, got {chips.shape}")

        def conv(x: torch.Tensor, c: _TorchConv) -> torch.Tensor:
            return F.conv2d(x, c.weight, c.bias, stride=c.stride, padding=c.padding)

        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(chips)).permute(0, 3, 1, 2).float()
            x = (x - torch.from_numpy(self._means)) / 256.0
            x = F.max_pool2d(F.relu(conv(x, self._stem)), *self._stem_pool)
            for first, second, pool in self._blocks:
                y = conv(F.relu(conv(x, first)), second)
                x = F.relu(_add(y, x if pool is None else F.avg_pool2d(x, *pool)))
            out = x.mean(dim=(2, 3)) @ torch.from_numpy(self._fc)
        return np.asarray(out.numpy(), np.float32)


def _fold(conv: _Conv, affine: tuple[np.ndarray, np.ndarray]) -> _TorchConv:
    """A convolution with the affine layer after it folded in: gamma·(w∗x + b) + beta."""
    import torch

    gamma, beta = affine
    weight = torch.from_numpy(conv.weight * gamma[:, None, None, None])
    return _TorchConv(weight, torch.from_numpy(conv.bias * gamma + beta), conv.stride, conv.padding)


def _add(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's add_prev: tensors of different shapes add as if the smaller were zero-filled."""
    if a.shape == b.shape:
        return a + b
    out = a.new_zeros([max(p, q) for p, q in zip(a.shape, b.shape, strict=True)])
    out[:, : a.shape[1], : a.shape[2], : a.shape[3]] += a
    out[:, : b.shape[1], : b.shape[2], : b.shape[3]] += b
    return out
