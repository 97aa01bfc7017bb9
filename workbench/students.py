"""Student networks as stacked parameter tensors, plus parameter and FLOP counts.

A *stack* of S students of one shape is a dict of tensors whose leading dimension is S; one
forward pass evaluates all of them, each on its own inputs (``torch.baddbmm`` for dense layers,
a grouped ``conv1d`` for convolutions). Adam is elementwise, so optimising a stack is exactly
optimising each student alone.

Families:
- ``mlp``: ``depth`` hidden ReLU layers of ``width`` units, then a linear head.
- ``cnn``: ``depth`` 1-D conv layers of ``width`` channels (kernel 5 for the first layer, 3 after,
  stride 2, padding 1, ReLU; Greydanus 2020's MNIST-1D CNN is width 25, depth 3), then a linear
  head on the flattened feature map.
- ``gru``: ``depth`` stacked *bidirectional* GRU layers of ``width`` hidden units per direction,
  reading the input as a sequence of ``in_dim`` time steps of one value each, then a linear head on
  every time step's output, flattened (Greydanus 2020's MNIST-1D GRU is width 6, depth 1: 5,134
  parameters). The stacked forward runs both directions of all S students as one batch of 2S, one
  ``baddbmm`` per time step.

Init is PyTorch's ``nn.Linear``/``nn.Conv1d`` default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for
weights and biases, drawn from a per-student ``torch.Generator``; for the GRU layers it is
``nn.GRU``'s, U(-1/sqrt(width), 1/sqrt(width)) for every weight and bias.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from workbench.errors import InputError, is_whole_number


def float32_default(fn):
    """Run ``fn`` with torch's default dtype float32, the engine's, and put the caller's back after it. A caller
    who had called ``torch.set_default_dtype(torch.float64)`` got "expected scalar type Double but found Float"
    from deep inside the stacked backward pass (parameters and data made at the default dtype, targets float32)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        old = torch.get_default_dtype()
        if old == torch.float32:
            return fn(*args, **kwargs)
        torch.set_default_dtype(torch.float32)
        try:
            return fn(*args, **kwargs)
        finally:
            torch.set_default_dtype(old)
    return wrapper


def one_torch_thread(fn):
    """Run ``fn`` on one torch thread and put the caller's count back after it. For training that goes through
    torch's own autograd (``nn.Linear`` and the like), whose CPU backward sums in an order that depends on the
    thread count: the refiner trained on 2 threads differed from 1 thread's in its weights (a review found an outcome
    table's refine settings moved by up to 1.8e-4 in loss, one answer flipped, under the same cache key). The CLI and
    the notebooks run on one thread already, so cached tables are those of one thread."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        old = torch.get_num_threads()
        if old == 1:
            return fn(*args, **kwargs)
        torch.set_num_threads(1)
        try:
            return fn(*args, **kwargs)
        finally:
            torch.set_num_threads(old)
    return wrapper


FAMILIES = ("mlp", "cnn", "gru")


@dataclass(frozen=True)
class StudentSpec:
    """The shape of a student; students with equal specs can share one stacked tensor."""

    family: str
    """``mlp``, ``cnn`` or ``gru``."""
    in_dim: int
    """Input features (MLP), signal length (CNN, one input channel) or sequence length (GRU, one
    value per time step)."""
    out_dim: int
    """Outputs: regression targets or classes."""
    width: int
    """Hidden units per layer (MLP), channels per conv layer (CNN) or hidden size per direction (GRU;
    every GRU layer is bidirectional, so a layer outputs 2 * width values per time step)."""
    depth: int
    """Hidden layers (MLP), conv layers (CNN) or stacked bidirectional GRU layers (GRU)."""

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise InputError(f"family must be one of {', '.join(FAMILIES)}; got {self.family!r}")
        for name in ("in_dim", "out_dim", "width"):  # in_dim=-3 gave count_params -7, width=2.5 16.0
            value = getattr(self, name)
            if not (is_whole_number(value) and value >= 1):
                raise InputError(f"{name} must be a positive integer; got {value!r}")
        least = 0 if self.family == "mlp" else 1  # a CNN or GRU of depth 0 has no layer to read its input
        if not is_whole_number(self.depth) or self.depth < least:
            raise InputError(f"depth must be >= {least} for {self.family}; got {self.depth!r}")
        if self.family == "cnn" and conv_lengths(self)[-1] < 1:
            raise InputError(f"depth={self.depth} conv layers shrink a length-{self.in_dim} "
                             "input to nothing; use fewer layers")


def conv_layers(spec: StudentSpec) -> list[tuple[int, int, int]]:
    """CNN layers as (c_in, c_out, kernel); stride 2, padding 1."""
    return [(1 if i == 0 else spec.width, spec.width, 5 if i == 0 else 3) for i in range(spec.depth)]


def conv_lengths(spec: StudentSpec) -> list[int]:
    """Signal length after each CNN layer, starting with the input length."""
    lengths = [spec.in_dim]
    for _, _, k in conv_layers(spec):
        lengths.append((lengths[-1] + 2 - k) // 2 + 1)
    return lengths


def gru_shapes(spec: StudentSpec) -> dict[str, tuple[int, ...]]:
    """GRU parameter shapes, in forward order. Layer i: ``wi{i}`` input weights (direction, gate,
    input direction, input unit, unit), ``wh{i}`` recurrent weights (direction, gate, unit in, unit out),
    ``bi{i}``/``bh{i}`` their biases (direction, gate, unit). Directions are (forward, reverse) and gates
    (r, z, n), as in ``nn.GRU``. Layer 0 reads one value per time step (1 input direction of 1 unit);
    a later layer reads both directions of the layer below. The head ``w{depth}`` is (time step,
    direction, unit, output), ``b{depth}`` (output). Every axis is explicit, so zero-padding to a wider
    spec (``pad_params``) is a plain slice."""
    h, shapes = spec.width, {}
    for i in range(spec.depth):
        in_dirs, in_units = (1, 1) if i == 0 else (2, h)
        shapes[f"wi{i}"], shapes[f"wh{i}"] = (2, 3, in_dirs, in_units, h), (2, 3, h, h)
        shapes[f"bi{i}"], shapes[f"bh{i}"] = (2, 3, h), (2, 3, h)
    shapes[f"w{spec.depth}"], shapes[f"b{spec.depth}"] = (spec.in_dim, 2, h, spec.out_dim), (spec.out_dim,)
    return shapes


def param_shapes(spec: StudentSpec) -> dict[str, tuple[int, ...]]:
    """Per-student parameter shapes, in forward order. Dense weights are (fan_in, fan_out); GRU
    shapes are described in ``gru_shapes``."""
    shapes: dict[str, tuple[int, ...]] = {}
    if spec.family == "gru":
        return gru_shapes(spec)
    if spec.family == "mlp":
        dims = [spec.in_dim] + [spec.width] * spec.depth + [spec.out_dim]
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
            shapes[f"w{i}"], shapes[f"b{i}"] = (a, b), (b,)
    else:
        for i, (c_in, c_out, k) in enumerate(conv_layers(spec)):
            shapes[f"w{i}"], shapes[f"b{i}"] = (c_out, c_in, k), (c_out,)
        flat = spec.width * conv_lengths(spec)[-1]
        shapes[f"w{spec.depth}"], shapes[f"b{spec.depth}"] = (flat, spec.out_dim), (spec.out_dim,)
    return shapes


def count_params(spec: StudentSpec) -> int:
    """Trainable parameters (weights + biases) of one student."""
    return sum(math.prod(s) for s in param_shapes(spec).values())


def macs_per_example(spec: StudentSpec) -> int:
    """Multiply-accumulates of one forward pass on one example (weights only, biases ignored).

    GRU: every input and recurrent weight is used once per time step and direction, so a layer costs
    in_dim * (its ``wi`` and ``wh`` entries); the head costs its weight entries once. The gates'
    elementwise work (sigmoid, tanh, the reset product and the interpolation, ~5 * width per step and
    direction) is not counted, as no activation function is for the other families."""
    shapes = param_shapes(spec)
    if spec.family == "gru":
        recurrent = sum(math.prod(s) for k, s in shapes.items() if k[:2] in ("wi", "wh"))
        return spec.in_dim * recurrent + math.prod(shapes[f"w{spec.depth}"])
    if spec.family == "mlp":
        return sum(math.prod(s) for k, s in shapes.items() if k.startswith("w"))
    lengths = conv_lengths(spec)
    conv = sum(c_out * c_in * k * lengths[i + 1] for i, (c_in, c_out, k) in enumerate(conv_layers(spec)))
    return conv + math.prod(shapes[f"w{spec.depth}"])


def flops_infer(spec: StudentSpec) -> int:
    """Inference FLOPs per example = 2 * MACs (one multiply + one add per MAC)."""
    return 2 * macs_per_example(spec)


def flops_train(spec: StudentSpec, examples_seen: int) -> int:
    """Training FLOPs = 6 * MACs * examples seen (forward 2, backward 4 FLOPs per MAC; the
    MAC-based form of Kaplan's C ~ 6 N D). Evaluation passes are not counted. A convention, not a
    measurement of the kernels run: the backward pass never computes the gradient of the input itself, so
    the work done is 6 * MACs - 2 * (first layer's MACs) per example (an audit with torch's FlopCounterMode:
    this count is 1.09x an MLP 20-64-64-1's, 1.03x the MNIST-1D CNN's, 1.5x a linear model's)."""
    return 6 * macs_per_example(spec) * int(examples_seen)


def _uniform(shape: tuple[int, ...], bound: float, generator: torch.Generator) -> torch.Tensor:
    return (torch.rand(shape, generator=generator) * 2 - 1) * bound


def _gru_init(spec: StudentSpec, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """``nn.GRU``'s init, U(+-1/sqrt(width)), for the GRU layers; ``nn.Linear``'s for the head."""
    head_bound = 1.0 / math.sqrt(math.prod(gru_shapes(spec)[f"w{spec.depth}"][:3]))  # fan_in L * 2 * width
    return {name: _uniform(shape, head_bound if name[1:].isdigit() else 1.0 / math.sqrt(spec.width), generator)
            for name, shape in gru_shapes(spec).items()}


def init_params(spec: StudentSpec, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """One student's parameters, PyTorch-default uniform init, drawn in a fixed order."""
    if spec.family == "gru":
        return _gru_init(spec, generator)
    params = {}
    shapes = param_shapes(spec)
    for name, shape in shapes.items():
        if name.startswith("w"):
            fan_in = shape[0] if len(shape) == 2 else shape[1] * shape[2]
        else:
            w = shapes["w" + name[1:]]
            fan_in = w[0] if len(w) == 2 else w[1] * w[2]
        params[name] = _uniform(shape, 1.0 / math.sqrt(fan_in), generator)
    return params


def stack_params(per_student: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack S students' parameter dicts into one dict of (S, *shape) tensors."""
    return {k: torch.stack([p[k] for p in per_student]) for k in per_student[0]}


def forward(spec: StudentSpec, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Outputs (S, B, out_dim) of S stacked students; x is (S, B, in_dim), student s sees x[s]."""
    if spec.family == "gru":
        return _gru_forward(spec, params, x)
    if spec.family == "mlp":
        h = x
        for i in range(spec.depth + 1):
            # (S, B, fan_in) @ (S, fan_in, fan_out) + (S, 1, fan_out) -> (S, B, fan_out)
            h = torch.baddbmm(params[f"b{i}"].unsqueeze(1), h, params[f"w{i}"])
            if i < spec.depth:
                h.relu_()  # h is fresh from baddbmm, never the caller's x
        return h
    s, b, length = x.shape
    h = x.permute(1, 0, 2)  # (B, S * 1, L): student s owns channel group s
    for i, (c_in, c_out, k) in enumerate(conv_layers(spec)):
        w = params[f"w{i}"].reshape(s * c_out, c_in, k)  # (S * C_out, C_in, k)
        h = torch.relu(F.conv1d(h, w, params[f"b{i}"].reshape(-1), stride=2, padding=1, groups=s))
    h = h.reshape(b, s, -1).permute(1, 0, 2)  # (B, S * C, L') -> (S, B, C * L')
    head = spec.depth
    return torch.baddbmm(params[f"b{head}"].unsqueeze(1), h, params[f"w{head}"])


def _gru_forward(spec: StudentSpec, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    s, b, length = x.shape
    u = x.unsqueeze(-1)  # (S, B, L, 1): one value per time step
    for i in range(spec.depth):
        u = _bigru_layer(params, i, u)  # (S, B, L, 2H)
    head = spec.depth
    w = params[f"w{head}"].reshape(s, -1, spec.out_dim)  # (S, L * 2H, out), index t * 2H + direction * H + unit
    return torch.baddbmm(params[f"b{head}"].unsqueeze(1), u.reshape(s, b, -1), w)


def _bigru_layer(params: dict[str, torch.Tensor], i: int, u: torch.Tensor) -> torch.Tensor:
    """GRU layer i of S stacked students, both directions: u (S, B, L, D_in) -> (S, B, L, 2H), the
    forward then the reverse direction's hidden state at every time step. The two directions of the S
    students run as 2S sequences; the reverse one reads u backwards in time."""
    wi, wh, bi, bh = (params[f"{k}{i}"] for k in ("wi", "wh", "bi", "bh"))
    s, b, length, d_in = u.shape
    hidden = wh.shape[-1]
    # (S, 2, gate, ..., unit) -> (2S, fan_in, 3H), columns gate-major (r | z | n)
    w_in = wi.flatten(3, 4).permute(0, 1, 3, 2, 4).reshape(2 * s, d_in, 3 * hidden)
    w_rec = wh.permute(0, 1, 3, 2, 4).reshape(2 * s, hidden, 3 * hidden)
    b_rec = bh.reshape(2 * s, 1, 3 * hidden)
    seqs = torch.stack((u, u.flip(2)), 1).reshape(2 * s, b * length, d_in)  # reverse direction: time flipped
    # every time step's input projection at once, then time-major: (L, 2S, B, 3H)
    proj = torch.baddbmm(bi.reshape(2 * s, 1, 3 * hidden), seqs, w_in)
    proj = proj.view(2 * s, b, length, 3 * hidden).permute(2, 0, 1, 3).contiguous()
    h = u.new_zeros(2 * s, b, hidden)
    states = []
    # unbind, not proj[t]: the backward of each index would zero-fill a gradient the size of proj
    for gx_rz, gx_n in zip(*(p.unbind(0) for p in proj.split((2 * hidden, hidden), -1))):
        h = _gru_step(gx_rz, gx_n, h, w_rec, b_rec)
        states.append(h)
    out = torch.stack(states, 2).view(s, 2, b, length, hidden)
    return torch.cat((out[:, 0], out[:, 1].flip(2)), -1)  # reverse states back in time order


def _gru_step(gx_rz: torch.Tensor, gx_n: torch.Tensor, h: torch.Tensor, w_rec: torch.Tensor,
              b_rec: torch.Tensor) -> torch.Tensor:
    """One time step of ``nn.GRU``'s cell for a batch of sequences: gx_rz (N, B, 2H) and gx_n (N, B, H)
    the input projection with its bias, h (N, B, H). r = σ(x_r + h_r), z = σ(x_z + h_z),
    n = tanh(x_n + r * h_n), h' = (1 - z) * n + z * h, where h_* = W_h* h + b_h*."""
    hidden = h.shape[-1]
    gh_rz, gh_n = torch.baddbmm(b_rec, h, w_rec).split((2 * hidden, hidden), -1)
    r, z = torch.sigmoid(gx_rz + gh_rz).split(hidden, -1)
    n = torch.tanh(torch.addcmul(gx_n, r, gh_n))
    return torch.lerp(n, h, z)  # n + z * (h - n)


def shared_chunk(spec: StudentSpec, s: int) -> int:
    """Examples per pass of ``forward_shared`` for S students: one hidden activation stays under
    ~2^24 floats (64 MB); a GRU layer holds ~8 * width floats per time step (both directions' input
    projections, 6 * width, and states, 2 * width)."""
    per_unit = {"mlp": 1, "cnn": spec.in_dim, "gru": 8 * spec.in_dim}[spec.family]
    per_example = s * max(spec.width * per_unit, spec.in_dim)
    return max(64, min(8192, 2 ** 24 // per_example))


def forward_shared(spec: StudentSpec, params: dict[str, torch.Tensor], x: torch.Tensor,
                   chunk: int | None = None) -> torch.Tensor:
    """Outputs (S, N, out_dim) of S students on one shared input x (N, in_dim), in chunks of
    ``shared_chunk`` examples (or ``chunk``)."""
    s = next(iter(params.values())).shape[0]
    if chunk is None:
        chunk = shared_chunk(spec, s)
    outs = [forward(spec, params, xc.unsqueeze(0).expand(s, *xc.shape))
            for xc in torch.split(x, chunk)]
    return torch.cat(outs, dim=1)


def to_module(spec: StudentSpec, params: dict[str, torch.Tensor]) -> torch.nn.Module:
    """A plain ``nn.Sequential`` holding one student's (unstacked) parameters, for reference
    per-model training; the CNN expects input (B, 1, L). A GRU student is a :class:`GRUStudent`
    (``nn.GRU`` + ``nn.Linear``) taking input (B, L)."""
    if spec.family == "gru":
        return _gru_module(spec, params)
    layers: list[torch.nn.Module] = []
    if spec.family == "mlp":
        for i in range(spec.depth + 1):
            w = params[f"w{i}"]
            lin = torch.nn.Linear(w.shape[0], w.shape[1])
            with torch.no_grad():
                lin.weight.copy_(w.T)
                lin.bias.copy_(params[f"b{i}"])
            layers += [lin] + ([torch.nn.ReLU()] if i < spec.depth else [])
        return torch.nn.Sequential(*layers)
    for i, (c_in, c_out, k) in enumerate(conv_layers(spec)):
        conv = torch.nn.Conv1d(c_in, c_out, k, stride=2, padding=1)
        with torch.no_grad():
            conv.weight.copy_(params[f"w{i}"])
            conv.bias.copy_(params[f"b{i}"])
        layers += [conv, torch.nn.ReLU()]
    w = params[f"w{spec.depth}"]
    head = torch.nn.Linear(w.shape[0], w.shape[1])
    with torch.no_grad():
        head.weight.copy_(w.T)
        head.bias.copy_(params[f"b{spec.depth}"])
    return torch.nn.Sequential(*layers, torch.nn.Flatten(), head)


class GRUStudent(torch.nn.Module):
    """One ``gru`` student as PyTorch modules: a bidirectional ``nn.GRU`` (batch first, one input
    feature) and an ``nn.Linear`` head on its flattened (B, L * 2 * width) output. Input (B, L)."""

    def __init__(self, spec: StudentSpec):
        super().__init__()
        self.gru = torch.nn.GRU(1, spec.width, num_layers=spec.depth, batch_first=True, bidirectional=True)
        self.head = torch.nn.Linear(spec.in_dim * 2 * spec.width, spec.out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(x.unsqueeze(-1))  # (B, L, 2 * width): forward then reverse states
        return self.head(out.flatten(1))


def _gru_module(spec: StudentSpec, params: dict[str, torch.Tensor]) -> GRUStudent:
    """A :class:`GRUStudent` holding ``params`` (``gru_shapes`` layout -> ``nn.GRU``'s (3H, fan_in))."""
    module, h = GRUStudent(spec), spec.width
    with torch.no_grad():
        for i in range(spec.depth):
            for d, suffix in enumerate(("", "_reverse")):  # (gate, fan_in, unit) -> (gate * unit, fan_in)
                values = {"weight_ih": params[f"wi{i}"][d].flatten(1, 2).transpose(1, 2).reshape(3 * h, -1),
                          "weight_hh": params[f"wh{i}"][d].transpose(1, 2).reshape(3 * h, h),
                          "bias_ih": params[f"bi{i}"][d].reshape(-1), "bias_hh": params[f"bh{i}"][d].reshape(-1)}
                for name, value in values.items():
                    getattr(module.gru, f"{name}_l{i}{suffix}").copy_(value)
        module.head.weight.copy_(params[f"w{spec.depth}"].reshape(-1, spec.out_dim).T)
        module.head.bias.copy_(params[f"b{spec.depth}"])
    return module


def pad_params(params: dict[str, torch.Tensor], spec: StudentSpec, to: StudentSpec) -> dict[str, torch.Tensor]:
    """Embed one student's params in the shape of a wider spec (same family/depth), zero-padded.

    Exact, not an approximation: a padded hidden unit has zero incoming weights and bias, so its
    ReLU output and (relu'(0) = 0 in PyTorch) every gradient touching it are exactly 0, and Adam
    leaves a parameter whose gradient is always 0 at 0. The real units train as in the narrow net.
    GRU: a padded unit's gates are σ(0) = 1/2 and its candidate tanh(0) = 0, so its state stays 0 from
    h0 = 0; every weight out of it (recurrent, next layer, head) is 0, so no gradient reaches it, and
    every gradient of a weight out of it is multiplied by its state, 0.
    """
    if (spec.family, spec.depth, spec.in_dim, spec.out_dim) != (to.family, to.depth, to.in_dim, to.out_dim) \
            or spec.width > to.width:
        raise ValueError(f"cannot pad {spec} into {to}")
    out = {}
    if spec.family == "cnn":  # head input is (C * L') channel-major: pad channel blocks
        length = conv_lengths(spec)[-1]
    for name, shape in param_shapes(to).items():
        p = params[name]
        z = torch.zeros(shape, dtype=p.dtype)
        if spec.family == "cnn" and name == f"w{spec.depth}":
            z.view(to.width, length, -1)[: spec.width] = p.view(spec.width, length, -1)
        else:
            z[tuple(slice(0, d) for d in p.shape)] = p
        out[name] = z
    return out


def mlp_grads(spec: StudentSpec, params: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor,
              kind: str) -> dict[str, torch.Tensor]:
    """Hand-written backward pass of S stacked MLPs: gradients of sum_s mean_b loss_s(b).

    The same maths autograd does, in ~4 kernels per layer instead of ~15 plus graph bookkeeping,
    which is what dominates small models on a CPU. x (S, B, in); y (S, B, out) float for
    regression (loss = squared error averaged over outputs) or (S, B) int64 class labels
    (cross-entropy). ReLU's derivative at 0 is taken as 0, as in PyTorch, so zero-padded units
    stay exactly 0 (see ``pad_params``).
    """
    if torch.is_grad_enabled() and any(t.requires_grad for t in (x, *params.values())):
        with torch.no_grad():  # only where autograd would record: entering no_grad costs ~4 us a call
            return mlp_grads(spec, params, x, y, kind)
    acts = [x]
    h = x
    for i in range(spec.depth + 1):
        # bmm + add_ rather than baddbmm: the same numbers, and faster for small layers on a CPU
        h = _dense(h, params[f"w{i}"]).add_(params[f"b{i}"].unsqueeze(1))  # (S, B, fan_out)
        if i < spec.depth:
            h.relu_()  # in place: relu(pre) > 0 exactly where pre > 0, so the backward needs only it
            acts.append(h)
    s, b, out_dim = h.shape
    if kind == "classification":
        # over a transposed copy: a softmax along a short innermost dim (C = 10) takes a scalar path
        # on a CPU, ~10x slower than along the batch (measured 196 vs 21 us at S = 4, B = 256); the
        # numbers differ from the plain softmax by float rounding (``RunConfig.key`` version 2, now 5)
        g = torch.softmax(h.transpose(1, 2), dim=1).transpose(1, 2)  # (S, B, C), a view of (S, C, B)
        g.scatter_add_(-1, y.unsqueeze(-1), torch.full((s, b, 1), -1.0, dtype=g.dtype, device=g.device))
        g.mul_(1.0 / b)
    else:
        g = h.sub_(y).mul_(2.0 / (b * out_dim))  # (S, B, out), in place of the outputs
    grads: dict[str, torch.Tensor] = {}
    for i in range(spec.depth, -1, -1):
        w = params[f"w{i}"]
        if _narrow(w) or (i == spec.depth and kind == "classification"):
            # (S, out, B) @ (S, B, fan_in), transposed back. A regression head: the same sums as below, but a
            # GEMM shape ~6x faster on a CPU (measured at fan_in 128, out 1). A classification head, whose g is
            # a view of (S, C, B): both operands of the form below would be transposed views, which MKL runs
            # 4-13x slower at widths 16-512 (782 vs 85 us at S = 4, width 256, C = 10, AMD EPYC; float
            # rounding apart from it: ``RunConfig.key`` version 5)
            grads[f"w{i}"] = torch.bmm(g.transpose(1, 2), acts[i]).transpose(1, 2).contiguous()
        else:
            grads[f"w{i}"] = torch.bmm(acts[i].transpose(1, 2), g)  # (S, fan_in, fan_out)
        grads[f"b{i}"] = g.sum(1)  # (S, fan_out)
        if i > 0:
            g = _backprop(g, w)  # (S, B, fan_in)
            _threshold_backward_into(g, acts[i], 0.0, grad_input=g)  # g * (act > 0), in place
    return grads


_threshold_backward_into = torch.ops.aten.threshold_backward.grad_input


def _backprop(g: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """g (S, B, fan_out) @ wᵀ (S, fan_out, fan_in). A one-output layer's product has one term per entry, so
    the broadcast product is the GEMM's own result bit for bit, and 12x faster at fan_in 128 on an AMD EPYC
    (104 -> 8 us). It is written into a fresh (S, B, fan_in) tensor with the GEMM's strides: at B = 1 a
    broadcast result's strides differ, and the next layer's bmm then sums in another order (helper-79)."""
    if w.shape[2] != 1:
        return torch.bmm(g, w.transpose(1, 2))
    return torch.mul(g, w.transpose(1, 2), out=g.new_empty(g.shape[0], g.shape[1], w.shape[1]))


def _dense(h: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """h (S, B, fan_in) @ w (S, fan_in, fan_out). A one-output layer (a regression head) is S matrix-vector products,
    which MKL's batched GEMM runs slowly on some CPUs: on an AMD EPYC (S = 6, B = 256, fan_in 128) 59 us, against
    20 us for the same product as (wᵀ hᵀ)ᵀ, whose numbers were equal bit for bit on every shape tried; on the
    Intel machines of earlier sessions that form was the slower. So on a CPU each shape's form is chosen once, by
    :func:`_turned_is_faster`, and the turned one only where it gives the plain one's numbers: the choice moves
    the speed, never a result. Only a contiguous h is turned (the training loop's always is): with other strides
    the two forms can sum in other orders (a column-major h at batch 7 did on that CPU), and the choice is made per
    shape, not per layout."""
    if w.shape[2] != 1 or h.device.type != "cpu" or h.shape[0] < 2 or not h.is_contiguous():
        return torch.bmm(h, w)
    key = (tuple(h.shape), h.dtype, torch.get_num_threads())
    turned = _TURNED.get(key)
    if turned is None:
        turned = _TURNED[key] = _turned_is_faster(h, w)
    if turned:
        return torch.bmm(w.transpose(1, 2), h.transpose(1, 2)).transpose(1, 2)  # (S, 1, B) viewed as (S, B, 1)
    return torch.bmm(h, w)


_TURNED: dict[tuple, bool] = {}
"""(shape, dtype, torch threads) of a one-output layer's input -> whether :func:`_dense` turns its product."""


def _turned_is_faster(h: torch.Tensor, w: torch.Tensor, repeats: int = 5, margin: float = 0.8,
                      draws: int = 4) -> bool:
    """Whether (wᵀ hᵀ)ᵀ equals h @ w bit for bit, on these operands and on ``draws`` random ones of their shape and
    strides, and takes under ``margin`` of its time (the best of ``repeats`` calls each; a few ms at most, once per
    shape). Random draws as well: where two kernels sum in different orders only some rows may differ, and one pair
    of operands can then agree by chance (a review found such a case pass 131 of 300 single checks)."""
    gen = torch.Generator().manual_seed(0)
    operands = [(h, w)] + [(torch.empty_like(h).normal_(generator=gen), torch.empty_like(w).normal_(generator=gen))
                           for _ in range(draws)]
    for a, b in operands:
        if not torch.equal(torch.bmm(b.transpose(1, 2), a.transpose(1, 2)).transpose(1, 2), torch.bmm(a, b)):
            return False  # another summation order on this CPU (or NaN in the operands): keep the plain product

    def best(fn) -> float:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times)

    return best(lambda: torch.bmm(w.transpose(1, 2), h.transpose(1, 2))) < margin * best(lambda: torch.bmm(h, w))


def _narrow(w: torch.Tensor) -> bool:
    """A single-output dense layer (S, fan_in, 1) with a wide input (a regression head), whose weight
    gradient is faster as a transposed GEMM on a CPU and bit-identical (one output: the same sums)."""
    return w.shape[2] == 1 and w.shape[1] >= 32
