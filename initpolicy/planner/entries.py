"""Evaluate a winning rule for one tensor: bound names, arguments, checks, std/bound.

Every problem becomes a :class:`~initpolicy.errors.Diagnostic` located at the rule and
naming the tensor, so the matcher can report all of them before anything is written.
Torch-free.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..catalog import (
    DRAWN,
    MAPPED,
    constant_value,
    dtype_error,
    facts,
    gain,
    is_calibration,
    range_error,
    resolve_args,
    resolve_values,
    resolve_wrapper,
    shape_error,
    vp_gain,
)
from ..catalog import get as schemes_get
from ..catalog import moments as schemes_moments
from ..errors import Diagnostic, InitPolicyError, PrintError
from ..language import CONFIG_PREFIX, BinOp, Call, Neg, Num, Rule, SchemeCall, Selector, Word, names
from ..language import literal_glob as printer_literal_glob
from ..language import selector as printer_selector
from ..tracer import Block, Layer, ParamInfo, tensor_facts
from .mapped import ExprError, inner_support, map_std
from .plan import Entry
from .select import NamedTensor, branch_env

#: ``evaluate(expression, bound names, count, position)``: position answers
#: ``index(SELECTOR)`` for the tensor at hand.
EvalFn = Callable[
    [Any, dict[str, float], Callable[[Selector], int], Callable[[Selector], int]], float
]


class _Fail(Exception):
    def __init__(self, message: str, hint: str | None = None):
        self.message, self.hint = message, hint


def diagnostic(rule: Rule, message: str, hint: str | None = None) -> Diagnostic:
    """A diagnostic at ``rule``'s location, the rule's text under it."""
    loc = rule.loc
    return Diagnostic(
        loc.file, loc.line, loc.column, message, " " * (loc.column - 1) + loc.text, hint=hint
    )


@dataclass(frozen=True)
class ModelNames:
    """The bound names of the whole model: its width, depth and attention head dimension
    (None: unknown), and the numbers of its config (``config.d_kv``)."""

    width: int | None = None
    depth: int | None = None
    head_dim: int | None = None
    config: Mapping[str, float] = field(default_factory=dict)

    def add_to(self, env: dict[str, float], why: dict[str, str]) -> None:
        env.update((CONFIG_PREFIX + k, v) for k, v in self.config.items())
        for key, value, what in (
            ("model_width", self.width, "width"),
            ("model_depth", self.depth, "depth"),
            ("model_head_dim", self.head_dim, "head_dim"),
        ):
            if value is not None:
                env[key] = float(value)
            elif what == "head_dim":
                why[key] = (
                    "the model's attention head dimension is unknown (no transformers "
                    "config says head_dim or hidden_size and num_attention_heads): give "
                    "it, --set head_dim=N or initpolicy.load(policy, head_dim=N)"
                )
            else:
                why[key] = (
                    f"the model's {what} is unknown (no transformers config says it, and "
                    f"the trace found no residual stream or hidden layers): give it, "
                    f"--set {what}=N or initpolicy.load(policy, {what}=N)"
                )


def bound_names(
    layer: Layer,
    fan_in: float,
    fan_out: float,
    n_layers: int,
    model: ModelNames | None = None,
    n_branches: int = 0,
    stacks: tuple[float, float] = (0.0, 0.0),
) -> tuple[dict[str, float], dict[str, str]]:
    """The bound names defined for a tensor of ``layer``, and why the others are not."""
    env = {
        "fan_in": float(fan_in),
        "fan_out": float(fan_out),
        "fan_avg": (float(fan_in) + float(fan_out)) / 2,
        "depth": float(layer.depth),
        "n_layers": float(n_layers),
    }
    branch = branch_env(layer, n_branches, stacks)
    env.update(
        {k: branch[k] for k in ("n_branches", "branch_layers", "encoder_blocks", "decoder_blocks")}
    )
    why: dict[str, str] = {}
    (model or ModelNames()).add_to(env, why)
    act = layer.activation
    if not act:
        for key in ("gain", "vp_gain", "slope"):
            why[key] = f"the activation after {layer.name or 'this module'} is unknown"
    else:
        for key, fn in (("gain", gain), ("vp_gain", vp_gain)):
            try:
                env[key] = float(fn(act, layer.act_args))
            except (InitPolicyError, ValueError) as e:
                why[key] = str(e)
        slope = facts(act).slope
        if slope is not None:
            try:
                env["slope"] = float(resolve_args(act, layer.act_args)[slope])
            except (InitPolicyError, ValueError, KeyError, TypeError) as e:
                # Reported where a rule uses `slope`, with the rule's location.
                why["slope"] = f"the slope of {layer.name}'s {act} cannot be read: {e}"
        else:
            why["slope"] = (
                f"slope is the negative slope of a leaky_relu or prelu, but {layer.name} "
                f"is followed by {_act_label(layer)}"
            )
    return env, why


def _act_label(layer: Layer) -> str:
    if layer.activation == "mixed" and layer.resolution.candidates:
        return f"mixed activations ({', '.join(layer.resolution.candidates)})"
    return layer.activation


def _has_default(layer: Layer, kind: str) -> bool:
    """Whether ``default`` can initialize a tensor of ``layer``: the module's own reset,
    BatchNorm's ``reset_running_stats`` for a buffer, or transformers' ``_init_weights``."""
    if layer.ownership.reset is not None or layer.ownership.init_weights_owner is not None:
        return True
    return kind == "buffer" and layer.ownership.resets_stats


def evaluate_entry(
    rule: Rule,
    target: NamedTensor,
    block: Block | None,
    *,
    evaluate: EvalFn,
    count: Callable[[Selector], int],
    n_layers: int,
    position: Callable[[Selector, Any], int] | None = None,
    model: ModelNames | None = None,
    n_branches: int = 0,
    stacks: tuple[float, float] = (0.0, 0.0),
) -> tuple[Entry | None, list[Diagnostic]]:
    """The Entry for ``rule`` on ``target`` (or one ``block`` of it), or the diagnostics
    explaining why it cannot be applied. ``position(selector, layer)`` answers
    ``index(SELECTOR)``."""
    try:
        return (
            _evaluate(
                rule, target, block, evaluate, count, n_layers, position, model, n_branches, stacks
            ),
            [],
        )
    except _Fail as f:
        where = target.param.name + (f"[{block.name}]" if block else "")
        return None, [diagnostic(rule, f"{where}: {f.message}", f.hint)]


def _evaluate(
    rule: Rule,
    target: NamedTensor,
    block: Block | None,
    evaluate: EvalFn,
    count: Callable[[Selector], int],
    n_layers: int,
    position: Callable[[Selector, Any], int] | None,
    model: ModelNames | None,
    n_branches: int,
    stacks: tuple[float, float],
) -> Entry:
    p, layer = target.param, target.layer

    def here(sel: Selector) -> int:
        if position is None:
            raise _Fail("index(...) needs the model's modules")
        return position(sel, layer)

    call = rule.scheme.inner or rule.scheme
    name = call.name
    fan_in, fan_out, shape = tensor_facts(p, block)
    env, why = bound_names(layer, fan_in, fan_out, n_layers, model, n_branches, stacks)
    scope = _Scope(env, why, evaluate, count, here)
    multipliers = _settings(rule, scope)
    values = _values(call, scope)
    # mapped(SCHEME, fn): an element-wise map of the draw, evaluated on the tensor
    fn = rule.scheme.arg("fn") if rule.scheme.name == MAPPED.name else None
    wrapped = _wrapper_args(rule, p, scope) if fn is None else None
    if fn is not None and p.parametrization is not None:
        raise _Fail(
            f"mapped cannot map a tensor computed by the parametrization {p.parametrization}",
            hint="write the scheme without the wrapper",
        )
    args = _checked_args(name, values)
    _check_target(name, args, target, block, shape)
    draw = _draw(name, args, p, fan_in, fan_out, shape)
    if fn is not None:
        draw = _mapped(rule, draw, args, fn, scope)
    elif wrapped is not None:
        draw = _wrapped(rule, draw, wrapped)
    return Entry(
        layer=layer,
        param=p,
        rule=rule,
        scheme=name,
        args=args,
        std=draw.std,
        bound=draw.bound,
        block=block.name if block else None,
        multipliers={k: v for k, v in multipliers.items() if k != "output"},
        output=multipliers.get("output"),
        scale=draw.scale,
        calibration=draw.calibration,
        transform=draw.transform,
    )


@dataclass(frozen=True)
class _Scope:
    """What a number in a rule is evaluated with for one tensor: the bound names (and why
    the others are not bound), the evaluator, ``count(...)`` and ``index(...)``."""

    env: dict[str, float]
    why: dict[str, str]
    evaluate: EvalFn
    count: Callable[[Selector], int]
    here: Callable[[Selector], int]


@dataclass(frozen=True)
class _Draw:
    """The std and bound a write produces, and the wrapper that rescales it (``scaled``'s
    factor, or a calibration's arguments)."""

    std: float | None
    bound: float | None
    scale: float | None = None
    calibration: dict[str, float | str] | None = None
    #: ``mapped``'s map, folded to ``x`` and numbers for this tensor
    transform: Any = None


def _wrapper_args(rule: Rule, p: ParamInfo, scope: _Scope) -> dict[str, float | str] | None:
    """The wrapper's resolved arguments (``scaled(SCHEME, 2)``, ``lsuv(SCHEME)``), or None
    for a plain scheme; a parametrized tensor cannot be rescaled."""
    if rule.scheme.inner is None:
        return None
    wrapped = resolve_wrapper(rule.scheme.name, _values(rule.scheme, scope))
    if p.parametrization is not None:
        raise _Fail(
            f"{rule.scheme.name} cannot rescale a tensor computed by the parametrization "
            f"{p.parametrization}",
            hint="write the scheme without the wrapper",
        )
    return wrapped


def _checked_args(name: str, values: dict[str, float | str]) -> dict[str, float | str]:
    """The scheme's arguments with defaults filled in, each checked against its parameter
    (an integer where one is declared) and all of them against the scheme."""
    spec = schemes_get(name)
    args = resolve_values(name, values)
    for param in spec.params:
        value = args.get(param.name)
        if value is None:
            continue
        if param.type == "int" and isinstance(value, float):
            if value != int(value):
                raise _Fail(f"{name}: {param.name}={value:g} must be an integer")
            args[param.name] = int(value)
        problem = param.check(value) if param.check else None
        if problem:
            raise _Fail(f"{name}: {param.name}={_fmt(value)} {problem}")
    problem = spec.check(args) if spec.check else None
    if problem:
        raise _Fail(f"{name}: {problem}")
    return args


def _check_target(
    name: str,
    args: dict[str, float | str],
    target: NamedTensor,
    block: Block | None,
    shape: tuple[int, ...],
) -> None:
    """Whether scheme ``name`` can write this tensor: its shape and dtype, a
    parametrization, and for ``default`` a module reset that covers it."""
    p, layer = target.param, target.layer
    problem = shape_error(name, shape, args) or dtype_error(name, p.dtype)
    if problem:
        raise _Fail(problem)
    if p.parametrization is not None:
        _check_parametrized(p, name, args, layer)
    if not schemes_get(name).runs_module_init:
        return
    if block is not None:
        raise _Fail(
            "default runs the module's reset_parameters() on the whole module; "
            "it cannot write one block",
            hint="drop the [block] or use a scheme",
        )
    if not _has_default(layer, p.kind):
        kind = layer.type or "this tensor"
        raise _Fail(
            f"default needs {kind}.reset_parameters(), which {kind} does not define",
            hint="write the scheme explicitly",
        )


def _draw(
    name: str,
    args: dict[str, float | str],
    p: ParamInfo,
    fan_in: float,
    fan_out: float,
    shape: tuple[int, ...],
) -> _Draw:
    """The std and bound of scheme ``name`` on this tensor: defined, finite, and within
    the range of the tensor's dtype (a buffer that ``default`` resets has none)."""
    try:
        std, bound = schemes_moments(name, args, fan_in=fan_in, fan_out=fan_out, shape=shape)
    except (ArithmeticError, ValueError) as e:
        raise _Fail(
            f"{name} is undefined for shape {tuple(shape)} "
            f"(fan_in={fan_in:g}, fan_out={fan_out:g}): {e}"
        ) from None
    for label, v in (("std", std), ("bound", bound)):
        if v is not None and not math.isfinite(v):
            raise _Fail(
                f"{name} gives {label} {v} for shape {tuple(shape)} "
                f"(fan_in={fan_in:g}, fan_out={fan_out:g})"
            )
    problem = range_error(name, args, fan_in=fan_in, fan_out=fan_out, shape=shape, dtype=p.dtype)
    if problem:
        raise _Fail(problem, hint="smaller arguments, or a wider dtype for this tensor")
    if p.kind == "buffer" and schemes_get(name).runs_module_init:
        return _Draw(None, None)
    return _Draw(std, bound)


def _wrapped(rule: Rule, draw: _Draw, wrapped: dict[str, float | str]) -> _Draw:
    """``draw`` under the rule's wrapper: ``scaled`` multiplies std and bound by its
    factor; a calibration keeps them and carries its arguments. Both need drawn values."""
    name = (rule.scheme.inner or rule.scheme).name
    if not schemes_get(name).writes_values:
        raise _Fail(f"{rule.scheme.name} needs values to rescale, and {name} draws none")
    if is_calibration(rule.scheme.name):
        return _Draw(draw.std, draw.bound, calibration=wrapped)
    scale = float(wrapped["factor"])
    return _Draw(
        None if draw.std is None else draw.std * abs(scale),
        None if draw.bound is None else draw.bound * abs(scale),
        scale=scale,
    )


def _mapped(rule: Rule, draw: _Draw, args: dict[str, float | str], fn: Any, scope: _Scope) -> _Draw:
    """``draw`` through ``mapped``'s map: the map folded for this tensor, and the std of
    its values (None where the inner draw is neither a uniform nor a normal)."""
    name = (rule.scheme.inner or rule.scheme).name
    if not schemes_get(name).writes_values:
        raise _Fail(f"{rule.scheme.name} needs values to map, and {name} draws none")
    assert not isinstance(fn, Word)
    fn = _fold(fn, lambda e: _number(e, "the map of mapped", scope))
    return _Draw(_mapped_std(name, args, draw.std, draw.bound, fn), None, transform=fn)


def _mapped_std(
    name: str, args: dict[str, float | str], std: float | None, bound: float | None, fn: Any
) -> float | None:
    """The std of ``mapped(INNER, fn)``'s values (None where the inner draw is neither a
    uniform nor a normal); a plan error where ``fn`` is undefined on the draw."""
    uniform, normal = inner_support(name, args, std, bound)
    value = constant_value(name, args)
    if value is not None:  # a constant mapped: one value, checked
        uniform = (float(value), float(value))
    if uniform is None and normal is None:
        return None
    try:
        return map_std(fn, uniform, normal)
    except ExprError as e:
        where = f"U({uniform[0]:g}, {uniform[1]:g})" if uniform else "its normal draw"
        raise _Fail(
            f"mapped: the map is undefined on {name}'s draw ({where}): {e}",
            hint="a map defined wherever the inner scheme draws",
        ) from None


def _fold(fn: Any, number: Callable[[Any], float]) -> Any:
    """The map with every part that does not read ``x`` evaluated for this tensor (its
    fans, ``index(Block)``, ``config.NAME``): what the applier evaluates is ``x`` and numbers."""
    if DRAWN not in names(fn):
        return Num(value=number(fn))
    if isinstance(fn, Neg):
        return Neg(operand=_fold(fn.operand, number))
    if isinstance(fn, BinOp):
        return BinOp(op=fn.op, left=_fold(fn.left, number), right=_fold(fn.right, number))
    if isinstance(fn, Call):
        return Call(fn=fn.fn, args=tuple(_fold(a, number) for a in fn.args))
    return fn  # x itself


def _values(call: SchemeCall, scope: _Scope) -> dict[str, float | str]:
    """``call``'s arguments evaluated for one tensor (words as they are)."""
    values: dict[str, float | str] = {}
    for arg in call.args:
        if isinstance(arg.value, Word):
            values[arg.name] = arg.value.value
            continue
        values[arg.name] = _number(arg.value, f"argument {arg.name} of {call.name}", scope)
    return values


def _number(value: Any, what: str, scope: _Scope) -> float:
    """``value`` evaluated for one tensor: every name it reads bound here, the result
    finite; ``what`` names it in the error (an argument, a ``with`` setting)."""
    missing = sorted(n for n in names(value) if n not in scope.env)
    if missing:
        n = missing[0]
        if n.startswith(CONFIG_PREFIX) and n not in scope.why:
            raise _Fail(
                f"`{n}` is undefined here: the model has no config number "
                f"`{n.removeprefix(CONFIG_PREFIX)}`",
                hint="config.NAME reads model.config.NAME (a transformers config)",
            )
        raise _Fail(f"`{n}` is undefined here: {scope.why.get(n, 'not a bound name')}")
    try:
        number = float(scope.evaluate(value, scope.env, scope.count, scope.here))
    except InitPolicyError as e:
        raise _Fail(f"{what}: {e}") from None
    except (ArithmeticError, ValueError) as e:
        raise _Fail(f"{what} cannot be evaluated: {e}") from None
    if not math.isfinite(number):
        raise _Fail(f"{what} is {number} (not finite)")
    return number


def _settings(rule: Rule, scope: _Scope) -> dict[str, float]:
    """The rule's ``with`` multipliers, evaluated for this tensor: finite; ``output``
    nonzero; the optimizer's lr, sgd_lr, eps and wd not negative."""
    out: dict[str, float] = {}
    for setting in rule.settings:
        number = _number(setting.value, setting.name, scope)
        if setting.name == "output" and number == 0:
            raise _Fail("output = 0 would zero the layer's output", hint="init it with zeros()")
        if setting.name != "output" and number < 0:
            raise _Fail(
                f"{setting.name} = {number:g} is negative (a multiplier of the optimizer's)"
            )
        out[setting.name] = number
    return out


#: Parametrizations whose computed weight a rule can write (see :mod:`initpolicy.applier.execution`).
WRITABLE_PARAMETRIZATIONS = ("weight_norm", "spectral_norm")


def _check_parametrized(p: ParamInfo, scheme: str, args: dict[str, Any], layer: Layer) -> None:
    """A rule on a parametrized weight writes its originals: weight_norm's (g, v) so that
    g·v/||v|| is the draw, spectral_norm's ``original`` (the weight before normalization)."""
    if schemes_get(scheme).keeps:
        return
    kind = p.parametrization or ""
    how = f"{layer.name or 'the model'}'s weight is computed by the parametrization {kind}"
    legacy = bool(p.stored) and not p.stored[0].startswith("original")
    if legacy:  # the legacy torch.nn.utils.weight_norm
        how = f"{layer.name or 'the model'}'s {p.local} is computed by the legacy weight_norm"
    sel = _originals(layer, p.local, legacy)
    originals = f": `{sel} -> ...`" if sel is not None else ""
    if kind not in WRITABLE_PARAMETRIZATIONS:
        raise _Fail(
            f"{how}; a rule can write only a weight_norm or spectral_norm weight",
            hint=f"write rules for its stored tensors{originals}",
        )
    if schemes_get(scheme).runs_module_init:
        raise _Fail(
            f"{how}; default would run {layer.type}.reset_parameters(), which writes the "
            "computed weight, not the stored originals",
            hint="write the scheme explicitly",
        )
    if kind == "weight_norm" and constant_value(scheme, args) == 0.0:
        raise _Fail(
            f"{how}; a zero weight has no direction, so weight_norm cannot represent it "
            "(g·v/||v|| is 0/0)",
            hint=f"remove the weight_norm, or write its originals{originals}",
        )


def _originals(layer: Layer, local: str, legacy: bool) -> str | None:
    """The selector of a parametrized weight's stored tensors, by the printer: the
    ParametrizationList's ``original*``, or the legacy weight_norm's ``weight_g``/``_v``
    on the module itself; None where it cannot be written."""
    named = printer_literal_glob(layer.name) if layer.name else None
    if legacy:
        sel = Selector(types=(layer.type,), param=f"{local}_?", named=named)
    else:
        inside = f"{named}.parametrizations.*" if named else "parametrizations.*"
        sel = Selector(types=("ParametrizationList",), param="original*", named=inside)
    try:
        return printer_selector(sel)
    except PrintError:
        return None


def _fmt(v: float | str) -> str:
    return f"{v:g}" if isinstance(v, float | int) else repr(v)
