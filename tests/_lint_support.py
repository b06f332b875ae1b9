"""Shared helpers of the lint tests: the model-spec and init-spec languages of the rules'
test cases (the ``model`` and ``init`` keys of tests/data/lint/*.toml), and a few small
architectures."""

from __future__ import annotations

import fnmatch
import itertools
import re
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import torch
from torch import nn

ACTS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "selu": nn.SELU,
    "gelu": nn.GELU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
}


class LSTMNet(nn.Module):
    def __init__(self, hidden: int, layers: int):
        super().__init__()
        self.add_module("0", nn.LSTM(8, hidden, layers))
        self.add_module("1", nn.Linear(hidden, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self._modules["0"](x)
        return self._modules["1"](y)


class ResMLP(nn.Module):
    """``n`` residual blocks x + fc2(act(fc1(x))) of width ``w``; a LayerNorm after each
    join with ``norm``."""

    def __init__(self, act: str, w: int, n: int, norm: bool = False):
        super().__init__()
        self.stem = nn.Linear(8, w)
        self.fc1 = nn.ModuleList(nn.Linear(w, w) for _ in range(n))
        self.act = ACTS[act]()
        self.fc2 = nn.ModuleList(nn.Linear(w, w) for _ in range(n))
        self.norms = nn.ModuleList(nn.LayerNorm(w) if norm else nn.Identity() for _ in range(n))
        self.head = nn.Linear(w, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for fc1, fc2, norm in zip(self.fc1, self.fc2, self.norms, strict=True):
            x = norm(x + fc2(self.act(fc1(x))))
        return self.head(x)


def _dims(text: str) -> list[int]:
    """``64x32x10`` -> [64, 32, 10]; ``W*N`` stands for N widths W (``64*3x10``)."""
    out: list[int] = []
    for part in text.split("x"):
        width, _, times = part.partition("*")
        out += [int(width)] * int(times or 1)
    return out


def build(spec: str) -> nn.Module:
    """``mlp:ACT:W0xW1x...`` (``W*N``: N layers' worth of width W),
    ``convbn[-nobias]:ACT:C``, ``dwconv:ACT:C:N`` (N depthwise-then-pointwise blocks,
    no normalization), ``lstm:H:L``, ``embed:V:D[:PAD]`` (an embedding, with a padding
    row, and a head), ``lnmlp:ACT:W:N`` (N Linear-LayerNorm-ACT blocks, then a head),
    ``res[-norm]:ACT:W:N`` (N residual MLP blocks, :class:`ResMLP`), ``tokpos:V:W`` (token
    plus position embedding), ``fixup:N:C`` (N Fixup blocks without normalization, He
    everywhere) (seeded)."""
    torch.manual_seed(0)
    kind, *rest = spec.split(":")
    if kind == "mlp":
        act, dims = rest[0], _dims(rest[1])
        mods: list[nn.Module] = []
        for i, (a, b) in enumerate(itertools.pairwise(dims)):
            mods.append(nn.Linear(a, b))
            if i < len(dims) - 2:
                mods.append(ACTS[act]())
        return nn.Sequential(*mods)
    if kind in ("convbn", "convbn-nobias"):
        act, c = rest[0], int(rest[1])
        return nn.Sequential(
            nn.Conv2d(3, c, 3, padding=1, bias=kind == "convbn"),
            nn.BatchNorm2d(c),
            ACTS[act](),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(c, 10),
        )
    if kind == "dwconv":
        act, c, n = rest[0], int(rest[1]), int(rest[2])
        blocks = [
            m
            for _ in range(n)
            for m in (nn.Conv2d(c, c, 3, padding=1, groups=c), nn.Conv2d(c, c, 1), ACTS[act]())
        ]
        head = [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 10)]
        return nn.Sequential(nn.Conv2d(3, c, 1), *blocks, *head)
    if kind == "lstm":
        return LSTMNet(int(rest[0]), int(rest[1]))
    if kind == "embed":
        vocab, dim, *pad = (int(r) for r in rest)
        return nn.Sequential(
            nn.Embedding(vocab, dim, padding_idx=pad[0] if pad else None), nn.Linear(dim, 2)
        )
    if kind == "lnmlp":
        act, width, n = rest[0], int(rest[1]), int(rest[2])
        mods = [m for _ in range(n) for m in (nn.Linear(width, width), nn.LayerNorm(width))]
        mods = [m for i, m in enumerate(mods) for m in ((m, ACTS[act]()) if i % 2 else (m,))]
        return nn.Sequential(*mods, nn.Linear(width, 10))
    if kind in ("res", "res-norm"):
        return ResMLP(rest[0], int(rest[1]), int(rest[2]), norm=kind == "res-norm")
    if kind == "tokpos":
        return TokPos(int(rest[0]), int(rest[1]))
    if kind == "fixup":
        return FixupNet(int(rest[0]), int(rest[1]))
    raise ValueError(spec)


class FixupBlock(nn.Module):
    """Fixup's residual block (Zhang et al. 2019): no normalization, scalar biases and a
    scale; He in both convs (the init spec zeroes ``conv2`` for Fixup's own init)."""

    def __init__(self, c: int):
        super().__init__()
        self.bias1a, self.bias1b, self.bias2a, self.bias2b = (
            nn.Parameter(torch.zeros(1)) for _ in range(4)
        )
        self.scale = nn.Parameter(torch.ones(1))
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        for conv in (self.conv1, self.conv2):
            nn.init.kaiming_normal_(conv.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.conv1(x + self.bias1a) + self.bias1b)
        out = self.conv2(out + self.bias2a) * self.scale + self.bias2b
        return torch.relu(out + x)


class FixupNet(nn.Module):
    """A stem, ``blocks`` Fixup blocks of ``c`` channels, a pooled linear head."""

    def __init__(self, blocks: int, c: int):
        super().__init__()
        self.stem = nn.Conv2d(3, c, 3, padding=1, bias=False)
        nn.init.kaiming_normal_(self.stem.weight)
        self.blocks = nn.Sequential(*(FixupBlock(c) for _ in range(blocks)))
        self.fc = nn.Linear(c, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.blocks(torch.relu(self.stem(x))).mean((2, 3)))


class TokPos(nn.Module):
    """A token embedding summed with a position embedding, then a LayerNorm and a head."""

    def __init__(self, vocab: int, width: int):
        super().__init__()
        self.tok = nn.Embedding(vocab, width)
        self.pos = nn.Embedding(16, width)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)
        return self.head(self.norm(self.tok(ids) + self.pos(positions)))


def _num(text: str) -> float:
    return float(Fraction(text.strip())) if "/" in text else float(text)


def init_tensor(t: torch.Tensor, call: str) -> None:
    """Apply one init-spec call (torch.nn.init spelled like a policy) to ``t``."""
    m = re.fullmatch(r"(\w+)\((.*)\)", call.strip())
    assert m, call
    name, raw = m.group(1), [a.strip() for a in m.group(2).split(",") if a.strip()]
    words = [a for a in raw if re.fullmatch(r"[a-z_]+", a)]
    nums = [_num(a) for a in raw if a not in words]
    init = nn.init
    with torch.no_grad():
        if name in ("ones", "zeros"):
            getattr(init, name + "_")(t)
        elif name == "constant":
            init.constant_(t, nums[0])
        elif name in ("uniform", "normal") or name in (
            "xavier_uniform",
            "xavier_normal",
            "orthogonal",
        ):
            getattr(init, name + "_")(t, *nums)
        elif name in ("kaiming_normal", "kaiming_uniform"):
            mode = next((w for w in words if w.startswith("fan")), "fan_in")
            nl = next((w for w in words if not w.startswith("fan")), "leaky_relu")
            getattr(init, name + "_")(t, mode=mode, nonlinearity=nl)
        elif name == "outliers":  # four values at ±v (trunc_normal_'s float32 clamp)
            t.view(-1)[[3, 17, 101, 499]] = torch.tensor([1.0, -1.0, 1.0, -1.0]) * nums[0]
        elif name == "repeat_block":  # k identical blocks along dim (same seed per shard)
            dim, k = int(nums[0]), int(nums[1])
            block = t.narrow(dim, 0, t.shape[dim] // k).clone()
            for chunk in t.chunk(k, dim=dim):
                chunk.copy_(block)
        elif name == "nan":
            t.fill_(float("nan"))
        elif name == "pm":  # +c and -c in a checkerboard: mean 0, std exactly c
            i = torch.arange(t.shape[0])[:, None] + torch.arange(t.shape[1])[None, :]
            t.copy_(nums[0] * (1 - 2 * (i % 2)).to(t.dtype))
        elif name == "repeat_row":
            t.copy_(t[0:1].expand_as(t))
        elif name == "forget_ones":
            n = t.shape[0] // 4
            t[n : 2 * n] = 1.0
        else:
            raise ValueError(call)


def apply_init(model: nn.Module, init: tuple[tuple[str, str], ...]) -> nn.Module:
    torch.manual_seed(1)
    for pattern, call in init:
        for name, p in model.named_parameters():
            if fnmatch.fnmatchcase(name, pattern):
                init_tensor(p, call)
    return model


def model_for(spec: str, init: tuple[tuple[str, str], ...] = ()) -> nn.Module:
    return apply_init(build(spec), init)


def deep_mlp(act: str, width: int, depth: int, init: str | None, classes: int = 10) -> nn.Module:
    spec = f"mlp:{act}:{width}*{depth + 1}x{classes}"
    return model_for(spec, (("*.weight", init),) if init else ())


def he_init(model: nn.Module) -> nn.Module:
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
    return model


def run_case(case: Mapping[str, Any]) -> Any:
    """Lint the model of one ``[[case]]`` of tests/data/lint/*.toml; the LintResult."""
    from initpolicy.api import lint

    init = tuple((glob, call) for glob, call in case.get("init", ()))
    return lint(
        model_for(case["model"], init),
        policy=case.get("policy"),
        static=case.get("static", True),
        strict=case.get("strict", False),
    )
