"""One function, one set of facts: an activation written as a module, a function or a
method, or as another torch function that computes it (``F.hardtanh(x, 0, 6)`` is relu6,
``nn.RReLU`` in eval mode a leaky ReLU), gets the same trace and the same lint findings,
because every stage reads the function's shape from its catalog entry
(initpolicy/catalog/activations.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from initpolicy.api import lint
from initpolicy.catalog.activations import ACTIVATIONS, SPELLINGS, canonical, facts
from initpolicy.tracer.tracing import trace

Act = Callable[[torch.Tensor], torch.Tensor]


class Net(nn.Module):
    """``a`` feeds ``act`` and then a linear layer and a norm: ``a`` is scale-invariant
    exactly when ``act`` is positively homogeneous. Weights at PyTorch's default init, a
    large bias in front of ``act`` (the rules that read the activation's facts fire)."""

    def __init__(self, act: Act | nn.Module) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.a = nn.Linear(64, 64)
        self.b = nn.Linear(64, 64)
        self.norm = nn.LayerNorm(64)
        self.c = nn.Linear(64, 64)
        self.d = nn.Linear(64, 8)
        nn.init.constant_(self.a.bias, 3.0)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(self.b(self.act(self.a(x))))
        return self.d(self.act(self.c(h)))


def _facts(model: nn.Module, tracer: str | None) -> list[tuple[Any, ...]]:
    graph = trace(model, tracer=tracer, example_inputs=torch.randn(4, 64))
    return [
        (
            lay.name,
            lay.activation,
            sorted((k, v) for k, v in lay.act_args.items() if k != "module"),
            lay.resolution.normalized,
            lay.roles.scale_invariant,
            lay.roles.renormalized,
            lay.roles.to_output,
        )
        for lay in graph.layers
    ]


def _findings(model: nn.Module) -> list[tuple[str, str, str]]:
    result = lint(model, example_inputs=torch.randn(256, 64))
    return sorted((f.code, f.target, f.message) for f in result.findings)


# Each group: spellings of one function. The first is the reference.
SAME_FUNCTION: dict[str, list[Act | nn.Module]] = {
    "relu6": [
        nn.ReLU6(),
        lambda x: F.hardtanh(x, 0, 6),
        nn.Hardtanh(0.0, 6.0),
        F.relu6,
        lambda x: F.hardtanh(x, min_val=0.0, max_val=6.0),
    ],
    "leaky_relu": [
        nn.LeakyReLU(0.2),
        lambda x: F.leaky_relu(x, 0.2),
        nn.RReLU(0.1, 0.3).eval(),
        lambda x: F.rrelu(x, 0.1, 0.3),
    ],
    "tanh": [nn.Tanh(), torch.tanh, lambda x: x.tanh(), nn.Hardtanh(), F.hardtanh],
    "gelu_tanh": [nn.GELU(approximate="tanh"), lambda x: F.gelu(x, approximate="tanh")],
    "relu": [nn.ReLU(), F.relu, torch.relu, lambda x: x.relu()],
}
PAIRS = [
    pytest.param(group[0], other, id=f"{name}-{i}")
    for name, group in SAME_FUNCTION.items()
    for i, other in enumerate(group[1:], 1)
]


@pytest.mark.parametrize("tracer", [None, "dynamic"])
@pytest.mark.parametrize("reference, other", PAIRS)
def test_one_function_two_spellings_trace_the_same(
    reference: nn.Module, other: Act | nn.Module, tracer: str | None
) -> None:
    assert _facts(Net(other), tracer) == _facts(Net(reference), tracer)


@pytest.mark.parametrize("reference, other", PAIRS)
def test_one_function_two_spellings_lint_the_same(
    reference: nn.Module, other: Act | nn.Module
) -> None:
    found = _findings(Net(reference))
    assert found  # the model is built to draw findings that depend on the activation
    assert _findings(Net(other)) == found


def test_relu6_is_not_homogeneous_so_a_clip_keeps_a_layer_scale_sensitive() -> None:
    # relu6(2x) != 2 relu6(x) once x passes 3: scaling ``a`` changes what the model computes
    # although a LayerNorm follows; relu(2x) = 2 relu(x), so there it does not.
    x = torch.full((1,), 4.0)
    assert not torch.equal(F.relu6(2 * x), 2 * F.relu6(x))
    by_layer = {f[0]: f[4] for f in _facts(Net(nn.ReLU6()), None)}
    assert by_layer["a"] is False
    assert {f[0]: f[4] for f in _facts(Net(nn.ReLU()), None)}["a"] is True


@pytest.mark.parametrize("act", [a for a in ACTIVATIONS if a.homogeneous], ids=lambda a: a.name)
def test_homogeneous_entries_commute_with_a_positive_scale(act: Any) -> None:
    fn = {"relu": F.relu, "leaky_relu": F.leaky_relu, "prelu": nn.PReLU()}[act.name]
    x = torch.randn(1000, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(fn(3.5 * x.float()).double(), 3.5 * fn(x.float()).double())


@pytest.mark.parametrize("act", [a for a in ACTIVATIONS if a.dead_region], ids=lambda a: a.name)
def test_dead_region_entries_are_zero_with_zero_derivative_below_zero(act: Any) -> None:
    fn = getattr(F, act.functions[0])
    x = (-torch.rand(100) - 0.01).requires_grad_()
    fn(x).sum().backward()
    assert torch.equal(fn(x.detach()), torch.zeros(100))
    assert x.grad is not None and torch.equal(x.grad, torch.zeros(100))


@pytest.mark.parametrize(
    "act", [a for a in ACTIVATIONS if a.saturating and a.elementwise], ids=lambda a: a.name
)
def test_saturating_entries_have_a_vanishing_derivative_in_both_tails(act: Any) -> None:
    fn = getattr(torch, act.name, None) or getattr(F, act.name)
    x = torch.tensor([-10.0, 10.0], requires_grad=True)
    fn(x).sum().backward()
    assert x.grad is not None and float(x.grad.abs().max()) < 1e-3


def test_every_slope_argument_is_an_argument_of_its_entry() -> None:
    with_slope = {a.name: a.slope for a in ACTIVATIONS if a.slope is not None}
    assert with_slope == {"leaky_relu": "negative_slope", "prelu": "init"}
    for a in ACTIVATIONS:
        assert a.slope is None or a.slope in a.shaping


def test_spellings_are_not_policy_words_and_mean_a_canonical_activation() -> None:
    for s in SPELLINGS:
        assert canonical(s.name) is None
        assert s.means is not None
        name, _ = s.means({a.name: a.default for a in s.args})
        assert facts(name).name == name and canonical(name) == name


def test_rrelu_in_eval_mode_is_the_leaky_relu_of_its_mean_slope() -> None:
    x = torch.randn(1000)
    m = nn.RReLU(0.1, 0.3).eval()
    assert torch.allclose(m(x), F.leaky_relu(x, 0.2))
