"""Model compression for inference: magnitude pruning, numeric precision, and what they cost.

Three knobs of one trained student (``workbench.students``):

- **density** d: keep the largest-|w| fraction d of the prunable weights (global per student,
  ``workbench.prune.magnitude_masks``), optionally fine-tuned with the mask held
  (``workbench.sweep_train.train_stack(init=..., masks=...)``).
- **precision**: ``fp32``; ``bf16`` (the module cast to bfloat16, inputs too); ``int8`` (PyTorch
  dynamic quantization, ``torch.ao.quantization.quantize_dynamic``, on every ``nn.Linear``).
  Dynamic quantization has no ``Conv1d`` kernel, so CNN conv layers get :class:`Int8Conv1d`:
  weights quantized per output channel and activations per tensor (dynamic, per batch), both to
  int8 and dequantized before a float conv -- the same numbers an int8 kernel computes, up to
  accumulation order. Accuracy is always measured on the quantized model itself.
- **cost model**: bit-operations = MACs × bits/32 (fp32 MACs as the unit), so int8 costs exactly a
  quarter and bf16 half of fp32 at equal MACs. FLOPs-equivalent cost = 2 × bit-operations; pruned
  weights cost nothing (sparse MACs, as ``workbench.prune`` counts them). Latency, measured, is a
  second column and never enters the cost.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import torch
import torch.nn.functional as F

from workbench.errors import InputError, is_real_number
from workbench.prune import macs_per_weight, magnitude_masks, prunable
from workbench.students import StudentSpec, conv_lengths, param_shapes, to_module

PRECISION_BITS: dict[str, int] = {"fp32": 32, "bf16": 16, "int8": 8}
"""Bits per weight and activation of each precision."""


def check_precision(precision: str) -> str:
    if not isinstance(precision, str) or precision not in PRECISION_BITS:  # a list was 'unhashable type'
        raise InputError(f"precision must be one of {', '.join(PRECISION_BITS)}; got {precision!r}")
    return precision


def check_density(density: float) -> float:
    if not is_real_number(density) or not 0 < density <= 1:  # '0.5' was a TypeError, True passed as 1
        raise InputError(f"density must be a number in (0, 1]; got {density!r}")
    return float(density)


def as_tensors(tensors, what: str) -> dict[str, torch.Tensor]:
    """``tensors`` (a dict name -> tensor) with numpy arrays converted to tensors, as :meth:`CompressedStudent.logits`
    converts its inputs; an InputError for anything else (numpy params were an AttributeError or a TypeError
    from deep inside torch)."""
    if not isinstance(tensors, Mapping):
        raise InputError(f"{what} must be a dict of tensor name -> tensor (one student's); got a {type(tensors).__name__}")
    out = {}
    for k, v in tensors.items():
        if isinstance(v, np.ndarray):
            v = torch.as_tensor(v)
        if not isinstance(v, torch.Tensor):
            raise InputError(f"{what}[{k!r}] must be a torch tensor or a numpy array; got a {type(v).__name__}")
        out[k] = v
    return out


def check_shapes(spec: StudentSpec, tensors: dict[str, torch.Tensor], what: str, masks: bool = False) -> None:
    """One student's (unstacked) tensors must have ``spec``'s shapes: params every tensor of
    ``param_shapes``, masks (``masks=True``) any of the prunable ones. A stack (S, ...) or a student of
    another shape is an InputError: its weights would be pruned or counted as one student's."""
    shapes = param_shapes(spec)
    names = prunable(spec) if masks else list(shapes)
    missing = [] if masks else [k for k in names if k not in tensors]
    if missing:
        raise InputError(f"{what} must hold {', '.join(names)} for {spec}; got no {', '.join(missing)}")
    for k, v in tensors.items():
        if k not in names:
            raise InputError(f"{what} has {k!r}, which is not one of {', '.join(names)} for {spec}")
        if tuple(v.shape) != shapes[k]:
            raise InputError(f"{what}[{k!r}] must have shape {shapes[k]} (one student of {spec}); "
                             f"got {tuple(v.shape)}" + (" (a stack? unstack it first)" if v.dim() == len(shapes[k]) + 1 else ""))
        if masks and not bool(((v == 0) | (v == 1)).all()):  # a 0.5 entry was counted as half a MAC
            bad = v[(v != 0) & (v != 1)].reshape(-1)[0].item()
            raise InputError(f"{what}[{k!r}] must hold only 0 and 1 (weight dropped or kept); got {bad!r}")


# ----------------------------------------------------------------------------------------------
# cost model (pure)


def layer_macs(spec: StudentSpec, masks: dict[str, torch.Tensor] | None = None) -> dict[str, int]:
    """MACs per example of each weight tensor, counting only unpruned weights (masks unstacked)."""
    if masks:
        check_shapes(spec, masks, "masks", masks=True)
    per_weight = macs_per_weight(spec)
    shapes = param_shapes(spec)
    return {k: int((masks[k].sum().item() if masks and k in masks else math.prod(shapes[k])) * per_weight[k])
            for k in prunable(spec)}


def bitops(macs: float, bits: int) -> float:
    """Bit-operations in fp32-MAC units: MACs × bits / 32."""
    for name, value in (("macs", macs), ("bits", bits)):  # bitops(-5, 8) was -1.25
        if not is_real_number(value) or not 0 <= value < float("inf"):
            raise InputError(f"{name} must be a finite number >= 0; got {value!r}")
    return float(macs) * bits / 32.0


def inference_cost(spec: StudentSpec, precision: str = "fp32",
                   masks: dict[str, torch.Tensor] | None = None) -> dict[str, float]:
    """Cost of one forward pass on one example: ``macs`` (sparse), ``bitops`` (MACs × bits/32) and
    ``flops`` (2 × bitops, i.e. fp32-equivalent FLOPs)."""
    macs = sum(layer_macs(spec, masks).values())
    b = bitops(macs, PRECISION_BITS[check_precision(precision)])
    return {"macs": float(macs), "bitops": b, "flops": 2.0 * b}


# ----------------------------------------------------------------------------------------------
# stacked <-> single parameters


def unstack(params: dict[str, torch.Tensor], i: int, spec: StudentSpec) -> dict[str, torch.Tensor]:
    """Student i of a (possibly width-padded) stack, cut back to its own ``spec``'s shapes."""
    out = {}
    shapes = param_shapes(spec)
    size = len(next(iter(params.values()))) if params else 0  # students in the stack
    if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= i < size:  # -1 was the last
        raise InputError(f"i (the student's index in the stack) must be an integer in [0, {size - 1}] "
                         f"({size} students); got {i!r}")
    for name, shape in shapes.items():
        p = params[name][i]
        if spec.family == "cnn" and name == f"w{spec.depth}":
            length = conv_lengths(spec)[-1]
            big_width = p.shape[0] // length  # head input is channel-major (C * L')
            p = p.view(big_width, length, -1)[: spec.width].reshape(shape[0], -1)
        out[name] = p[tuple(slice(0, d) for d in shape)].clone()
    return out


# ----------------------------------------------------------------------------------------------
# pruning


def magnitude_prune(spec: StudentSpec, params: dict[str, torch.Tensor],
                    density: float) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """One-shot global magnitude pruning of one student to ``density``: (pruned params, 0/1 masks).
    Keeps round(density × prunable weights) weights; biases are never pruned. ``params``: tensors or numpy
    arrays, all finite (a NaN compares as the largest magnitude: it was kept, and pruned the model to NaN)."""
    check_density(density)
    params = as_tensors(params, "params")
    check_shapes(spec, params, "params")
    for k, v in params.items():
        finite = torch.isfinite(v)
        if not bool(finite.all()):
            raise InputError(f"params[{k!r}] must hold finite numbers to be pruned by magnitude; got "
                             f"{int((~finite).sum())} NaN/inf value(s), the first {v[~finite][0].item()!r}")
    names = prunable(spec)
    total = sum(params[k].numel() for k in names)
    keep = max(1, round(density * total))
    stacked = {k: params[k].unsqueeze(0) for k in names}  # (1, ...) for magnitude_masks
    masks = magnitude_masks(stacked, {k: torch.ones_like(v) for k, v in stacked.items()}, keep)
    masks = {k: m[0] for k, m in masks.items()}
    pruned = {k: v * masks[k] if k in masks else v.clone() for k, v in params.items()}
    return pruned, masks


# ----------------------------------------------------------------------------------------------
# precision


class Int8Conv1d(torch.nn.Module):
    """A ``Conv1d`` with int8 weights (symmetric, per output channel) and int8 activations
    (affine, per tensor, range taken from each batch), dequantized before a float conv."""

    def __init__(self, conv: torch.nn.Conv1d):
        super().__init__()
        w = conv.weight.detach()
        scale = (w.abs().amax(dim=(1, 2)) / 127.0).clamp_min(1e-12)  # (C_out,)
        with warnings.catch_warnings():  # torch 2.13 flags quantized tensor creation as deprecated
            warnings.simplefilter("ignore", UserWarning)
            qw = torch.quantize_per_channel(w, scale, torch.zeros_like(scale, dtype=torch.long), 0, torch.qint8)
        self.register_buffer("weight", qw.dequantize())
        self.register_buffer("bias", conv.bias.detach().clone())
        self.stride, self.padding = conv.stride, conv.padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lo, hi = float(x.min().clamp(max=0)), float(x.max().clamp(min=0))
        scale = max(hi - lo, 1e-12) / 255.0
        zero = int(round(-lo / scale))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            xq = torch.quantize_per_tensor(x, scale, zero, torch.quint8).dequantize()
        return F.conv1d(xq, self.weight, self.bias, stride=self.stride, padding=self.padding)


def quantize(module: torch.nn.Module, precision: str) -> torch.nn.Module:
    """A copy of ``module`` (from ``students.to_module``) at ``precision``, in eval mode; the input is
    unchanged (its weights, dtype and train/eval mode: fp32 returned the module itself, and every
    precision switched it to eval mode)."""
    check_precision(precision)
    module = _copy(module).eval()
    if precision == "fp32":
        return module
    if precision == "bf16":
        return module.to(torch.bfloat16)
    with warnings.catch_warnings():  # torch 2.13 flags quantized tensor creation as deprecated
        warnings.simplefilter("ignore", UserWarning)
        layers = [Int8Conv1d(m) if isinstance(m, torch.nn.Conv1d) else m for m in module]
        return torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(*layers), {torch.nn.Linear},
                                                      dtype=torch.qint8, inplace=True)  # layers are the copy's


def _copy(module: torch.nn.Module) -> torch.nn.Module:
    import copy

    return copy.deepcopy(module)


@dataclass
class CompressedStudent:
    """One student at one (density, precision): its pruned params, masks, module and cost."""

    spec: StudentSpec
    """The student's shape."""
    params: dict[str, torch.Tensor]
    """Unstacked (pruned) parameters."""
    density: float = 1.0
    """Fraction of prunable weights kept (a label: ``masks`` do the pruning, and are required below 1)."""
    precision: str = "fp32"
    """``fp32``, ``bf16`` or ``int8``."""
    masks: dict[str, torch.Tensor] | None = None
    """0/1 masks of the prunable weights (None: dense)."""

    def __post_init__(self):
        if getattr(self.spec, "family", None) == "gru":  # int8 would quantize the head only, priced as all int8
            raise InputError("compression supports the mlp and cnn families only; got a gru student")
        check_precision(self.precision)
        check_density(self.density)
        self.params = as_tensors(self.params, "params")
        check_shapes(self.spec, self.params, "params")
        if self.masks:
            self.masks = as_tensors(self.masks, "masks")
            check_shapes(self.spec, self.masks, "masks", masks=True)
            # density is the label the cost and tables carry: it must be the masks' (0.9 with masks keeping
            # 0.5 was priced and reported as 0.9); magnitude_prune keeps round(density × weights), so the two
            # agree to within one weight
            shapes = param_shapes(self.spec)
            total = sum(math.prod(shapes[k]) for k in prunable(self.spec))
            kept = sum(int(self.masks[k].sum().item()) if k in self.masks else math.prod(shapes[k])
                       for k in prunable(self.spec))
            if abs(kept - self.density * total) > 1:
                raise InputError(f"density={self.density!r} does not match the masks: they keep {kept} of the "
                                 f"{total} prunable weights (density {kept / total:.6g}); pass the density the "
                                 "masks were made for")
        elif self.density < 1:  # no masks: the dense student, which would be priced and run dense
            raise InputError(f"density={self.density!r} needs the masks of the pruned params (from magnitude_prune); "
                             "got masks=None")
        self.module = quantize(to_module(self.spec, self.params), self.precision)

    @property
    def cost(self) -> dict[str, float]:
        """Per-example ``macs``, ``bitops`` and ``flops`` (see :func:`inference_cost`)."""
        return inference_cost(self.spec, self.precision, self.masks)

    @torch.no_grad()
    def logits(self, x: torch.Tensor, chunk: int = 8192) -> torch.Tensor:
        """Float32 logits (N, out) of the compressed model on inputs x (N, in_dim), a tensor or a numpy
        array, run ``chunk`` rows at a time."""
        if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
            raise InputError(f"chunk must be a positive integer (rows per forward pass); got {chunk!r}")
        if isinstance(x, np.ndarray):
            x = torch.as_tensor(x)
        if not isinstance(x, torch.Tensor):
            raise InputError(f"x must be a tensor or numpy array of shape (N, {self.spec.in_dim}); "
                             f"got a {type(x).__name__}")
        if x.dim() != 2 or x.shape[0] < 1 or x.shape[1] != self.spec.in_dim:
            raise InputError(f"x must have shape (N, {self.spec.in_dim}) with N >= 1 (the inputs of {self.spec}); "
                             f"got {tuple(x.shape)}")
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float32
        outs = []
        for xc in torch.split(x, chunk):
            xc = xc.unsqueeze(1) if self.spec.family == "cnn" else xc  # (B, 1, L) for the CNN
            outs.append(self.module(xc.to(dtype)).float())
        return torch.cat(outs)
