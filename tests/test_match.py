"""Matching semantics: which rule wins each tensor, with what arguments, std and bound.

Policies and graphs are built by hand (tests/_match_support.py) so each test states the
layer facts it depends on; no torch, no parser, no tracer.
"""

from __future__ import annotations

import math

import pytest

from initpolicy.catalog.gains import vp_gain
from initpolicy.catalog.seeds import resolve_seed
from initpolicy.errors import PlanError
from initpolicy.planner.match import build_plan as plan

from ._match_support import S, count, div, graph, gt, minus, name, num, policy, scheme, sqrt

#: vp_gain is the gains module's to prove (tests/test_gains.py); here: that it is bound.
TANH_VP = vp_gain("tanh")


def entries(p):
    return {e.name: e for e in p.entries}


def names_for(sel, g=None):
    p = plan(policy((sel, scheme("zeros"))), g or graph())
    return sorted(entries(p))


@pytest.mark.parametrize(
    ("sel", "expected"),
    [
        # class name or any base-class name; globs; case-sensitive
        (S(types=("Linear",)), ["attn.out_proj.weight", "fc1.weight", "head.weight", "mix.weight"]),
        (S(types=("NonDynamically*",)), ["attn.out_proj.weight"]),
        (S(types=("_ConvNd",)), ["blocks.0.conv.weight"]),
        (S(types=("linear",)), []),
        (S(types=("Conv*", "Embedding")), ["blocks.0.conv.weight", "emb.weight"]),
        # a type rule without a parameter: weight, weight_*, *_weight (not biases)
        (S(types=("LSTM",)), ["rnn.weight_hh_l0", "rnn.weight_ih_l0"]),
        (S(types=("LSTM",), param="weight_hh*"), ["rnn.weight_hh_l0"]),
        (S(types=("LSTM",), param="bias_?h_l0"), ["rnn.bias_hh_l0", "rnn.bias_ih_l0"]),
        # a bare lowercase name: that parameter of any module
        (S(param="bias"), ["blocks.0.conv.bias", "fc1.bias"]),
        # buffers only when named
        (S(types=("BatchNorm2d",)), ["bn.weight"]),
        (S(types=("BatchNorm2d",), param="running_var"), ["bn.running_var"]),
        (S(param="running_*"), ["bn.running_var"]),
        # a bare `*` names no buffer
        (S(types=("BatchNorm2d",), param="*"), ["bn.weight"]),
        # named: fnmatch over the qualified module name, * crosses dots
        (S(named="*conv"), ["blocks.0.conv.weight"]),
        (S(types=("Linear",), named="attn.*"), ["attn.out_proj.weight"]),
        # in: some enclosing module's type (or base type)
        (S(inside=("MultiheadAttention",)), ["attn.out_proj.weight"]),
        (S(inside=("Conv*Block",)), ["blocks.0.conv.weight"]),
        (
            S(inside=("Net",), param="*"),
            ["attn.out_proj.weight", "blocks.0.conv.bias", "blocks.0.conv.weight"],
        ),
        # before: canonical activations; a mixed layer only as `before mixed`
        (S(before=("relu",)), ["fc1.weight"]),
        (S(before=("ReLU", "tanh")), ["fc1.weight", "rnn.weight_hh_l0", "rnn.weight_ih_l0"]),
        (S(before=("mixed",)), ["mix.weight"]),
        (S(before=("output",)), ["head.weight"]),
        # after: the type (or a base type) of the previous layer
        (S(after=("Linear",)), ["blocks.0.conv.weight"]),
        (S(after=("_ConvNd",)), ["mix.weight"]),
        # where: fan_in, fan_out, ndim, numel, depth
        (S(where=gt("fan_in", 8)), ["blocks.0.conv.weight"]),
        (S(param="*", where=gt("ndim", 3)), ["blocks.0.conv.weight"]),
        (S(types=("Linear",), where=gt("depth", 2)), ["attn.out_proj.weight", "head.weight"]),
        (S(param="bias", where=gt("numel", 6)), ["fc1.bias"]),
    ],
)
def test_selector_forms(sel, expected):
    assert names_for(sel) == expected


def test_block_rule_writes_one_block_with_its_own_fans():
    p = plan(
        policy((S(types=("LSTM",), param="weight_hh*", block="forget"), scheme("orthogonal"))),
        graph(),
    )
    (e,) = p.entries
    assert (e.name, e.block, e.std) == ("rnn.weight_hh_l0[forget]", "forget", pytest.approx(0.5))
    # the rest of the packed tensor is reported as kept
    assert p.warnings == [
        "rnn.weight_hh_l0: blocks input, cell, output are matched by no rule and keep their values"
    ]


def test_later_rules_override_earlier_ones_and_record_what_they_overrode():
    p = plan(
        policy(
            (S(types=("Linear",)), scheme("xavier_normal")),
            (S(types=("Linear",), before=("relu",)), scheme("kaiming_normal", mode="fan_in")),
            (S(param="bias"), scheme("zeros")),
            (S(types=("Embedding",), param="bias"), scheme("ones")),  # matches nothing
        ),
        graph(),
    )
    e = entries(p)
    assert e["fc1.weight"].scheme == "kaiming_normal"
    assert [r.loc.line for r in e["fc1.weight"].overridden] == [1]
    assert e["mix.weight"].scheme == "xavier_normal"
    assert [r.loc.line for r in p.never_matched] == [4]
    assert p.always_overridden == []


def test_a_rule_whose_every_match_is_overridden_is_reported():
    p = plan(
        policy(
            (S(before=("relu",)), scheme("xavier_normal")), (S(types=("Linear",)), scheme("zeros"))
        ),
        graph(),
    )
    assert [r.loc.line for r in p.always_overridden] == [1]


def test_block_rule_after_a_whole_rule_rewrites_only_its_block():
    p = plan(
        policy(
            (S(types=("LSTM",), param="bias*"), scheme("zeros")),
            (S(types=("LSTM",), param="bias_ih*", block="forget"), scheme("ones")),
        ),
        graph(),
    )
    assert [(e.name, e.scheme) for e in p.entries] == [
        ("rnn.bias_ih_l0", "zeros"),
        ("rnn.bias_ih_l0[forget]", "ones"),
        ("rnn.bias_hh_l0", "zeros"),
    ]
    assert [r.loc.line for r in p.entries[1].overridden] == [1]


def test_whole_rule_after_a_block_rule_overrides_it():
    p = plan(
        policy(
            (S(types=("LSTM",), param="bias_ih*", block="forget"), scheme("ones")),
            (S(types=("LSTM",), param="bias*"), scheme("zeros")),
        ),
        graph(),
    )
    assert [(e.name, e.scheme) for e in p.entries] == [
        ("rnn.bias_ih_l0", "zeros"),
        ("rnn.bias_hh_l0", "zeros"),
    ]
    assert [r.loc.line for r in p.always_overridden] == [1]


def test_rnn_gate_bias_constant_goes_to_bias_ih_and_bias_hh_gets_zero():
    p = plan(policy((S(types=("LSTM",), param="bias*", block="forget"), scheme("ones"))), graph())
    got = {e.name: (e.scheme, e.note is not None) for e in p.entries}
    assert got == {
        "rnn.bias_ih_l0[forget]": ("ones", False),
        "rnn.bias_hh_l0[forget]": ("zeros", True),
    }


@pytest.mark.parametrize(
    ("sel", "sch", "param", "args", "std", "bound"),
    [
        (
            S(types=("Linear",), before=("relu",)),
            scheme("kaiming_normal", mode="fan_in"),
            "fc1.weight",
            {"a": 0.0, "mode": "fan_in", "nonlinearity": "leaky_relu"},
            math.sqrt(2 / 4),
            None,
        ),
        (
            S(types=("Conv2d",)),
            scheme("kaiming_uniform", a=name("slope"), mode="fan_out"),
            "blocks.0.conv.weight",
            {"a": 0.2, "mode": "fan_out", "nonlinearity": "leaky_relu"},
            math.sqrt(2 / 1.04) / math.sqrt(54),
            math.sqrt(3) * math.sqrt(2 / 1.04) / math.sqrt(54),
        ),
        (
            S(types=("Linear",), before=("relu",)),
            scheme("xavier_uniform", gain=name("gain")),
            "fc1.weight",
            {"gain": math.sqrt(2)},
            math.sqrt(2) * math.sqrt(6 / 12) / math.sqrt(3),
            math.sqrt(2) * math.sqrt(6 / 12),
        ),
        (
            S(param="bias"),
            scheme(
                "uniform", a=div(num(-1), sqrt(name("fan_in"))), b=div(num(1), sqrt(name("fan_in")))
            ),
            "fc1.bias",
            {"a": -0.5, "b": 0.5},
            1 / math.sqrt(12),
            0.5,
        ),
        (
            S(types=("Linear",), named="head"),
            scheme("normal", std=div(num(0.02), sqrt(count(types=("Linear",))))),
            "head.weight",
            {"mean": 0.0, "std": 0.01},
            0.01,
            None,
        ),
        (
            S(types=("Embedding",)),
            scheme("normal", std=div(name("depth"), name("n_layers"))),
            "emb.weight",
            {"mean": 0.0, "std": 6 / 8},
            6 / 8,
            None,
        ),
        (
            S(types=("Linear",), named="fc1"),
            scheme("normal", std=name("fan_avg")),
            "fc1.weight",
            {"mean": 0.0, "std": 6.0},
            6.0,
            None,
        ),
        (
            S(types=("LSTM",), param="weight_hh*"),
            scheme("xavier_normal", gain=name("vp_gain")),
            "rnn.weight_hh_l0",
            {"gain": TANH_VP},
            TANH_VP * math.sqrt(2 / 20),
            None,
        ),
    ],
)
def test_arguments_are_evaluated_with_the_tensors_bound_names(sel, sch, param, args, std, bound):
    e = entries(plan(policy((sel, sch)), graph()))[param]
    assert e.args == args
    assert e.std == pytest.approx(std)
    assert e.bound == (None if bound is None else pytest.approx(bound))


def test_count_counts_modules_not_tensors():
    e = entries(
        plan(policy((S(named="fc1"), scheme("constant", val=count(types=("LSTM",))))), graph())
    )
    assert e["fc1.weight"].args == {"val": 1.0}


@pytest.mark.parametrize(
    ("sel", "sch", "message"),
    [
        (
            S(types=("Linear",), before=("relu",)),
            scheme("kaiming_normal", a=name("slope")),
            "p.pol:1:1: fc1.weight: `slope` is undefined here: slope is the negative slope of a "
            "leaky_relu or prelu, but fc1 is followed by relu",
        ),
        (
            S(before=("mixed",)),
            scheme("xavier_normal", gain=name("gain")),
            "p.pol:1:1: mix.weight: `gain` is undefined here: gain of a mixed layer is a plan error",
        ),
        (
            S(param="bias"),
            scheme("orthogonal"),
            "p.pol:1:1: fc1.bias: orthogonal needs a tensor of at least 2 dimensions (fans, a matrix); got shape (8,)",
        ),
        (
            S(types=("Linear",), named="fc1"),
            scheme("normal", std=div(num(1), minus(name("fan_in"), num(4)))),
            "p.pol:1:1: fc1.weight: argument std of normal: division by zero (1 / 0)",
        ),
        (
            S(types=("BatchNorm2d",), param="num_batches_tracked"),
            scheme("normal"),
            "p.pol:1:1: bn.num_batches_tracked: normal draws random values and needs a floating-point tensor; got int64",
        ),
        (
            S(types=("Linear",), named="fc1"),
            scheme("normal", std=num(-1)),
            "p.pol:1:1: fc1.weight: normal: std=-1 must be >= 0",
        ),
        (
            S(types=("LSTM",), param="weight_hh*", block="cell"),
            scheme("default"),
            "p.pol:1:1: rnn.weight_hh_l0[cell]: default runs the module's reset_parameters()",
        ),
    ],
)
def test_plan_errors_name_the_rule_location_and_the_tensor(sel, sch, message):
    with pytest.raises(PlanError) as info:
        plan(policy((sel, sch)), graph())
    assert str(info.value).startswith(message)


def test_every_problem_is_reported_at_once():
    with pytest.raises(PlanError) as info:
        plan(
            policy(
                (S(param="bias"), scheme("orthogonal")),
                (S(types=("Linear",), before=("relu",)), scheme("kaiming_normal", a=name("slope"))),
            ),
            graph(),
        )
    located = [(d.line, d.message.split(":")[0]) for d in info.value.diagnostics]
    assert located == [(2, "fc1.weight"), (1, "fc1.bias"), (1, "blocks.0.conv.bias")]


def test_tied_tensor_is_one_entry_under_its_first_name_when_rules_agree():
    p = plan(
        policy((S(types=("Linear", "Embedding")), scheme("normal", std=0.02))), graph(tie=True)
    )
    names = [e.name for e in p.entries]
    assert names.count("emb.weight") == 1 and "head.weight" not in names


def test_tied_tensor_matched_by_disagreeing_rules_is_a_plan_error():
    with pytest.raises(PlanError) as info:
        plan(
            policy(
                (S(types=("Embedding",)), scheme("normal", std=0.02)),
                (S(types=("Linear",), named="head"), scheme("zeros")),
            ),
            graph(tie=True),
        )
    (d,) = info.value.diagnostics
    assert d.line == 2
    assert d.message == (
        "tied tensor emb.weight (also head.weight) is one tensor, but its names get different "
        "inits: emb.weight: normal(mean=0, std=0.02) by p.pol:1; head.weight: zeros() by p.pol:2"
    )
    assert d.hint == (
        'to let emb.weight\'s rule initialize it, add `Linear.weight named "head" -> keep` '
        '(or `Embedding.weight named "emb" -> keep` for head.weight\'s rule)'
    )


@pytest.mark.parametrize(
    ("keep_sel", "scheme_name"),
    [
        (S(types=("Linear",), param="weight", named="head"), "normal"),
        (S(types=("Embedding",), param="weight", named="emb"), "zeros"),
    ],
)
def test_keep_on_one_name_of_a_tied_tensor_lets_the_other_names_rule_write_it(
    keep_sel, scheme_name
):
    p = plan(
        policy(
            (S(types=("Embedding",)), scheme("normal", std=0.02)),
            (S(types=("Linear",), named="head"), scheme("zeros")),
            (keep_sel, scheme("keep")),
        ),
        graph(tie=True),
    )
    (e,) = [e for e in p.entries if e.param.name == "emb.weight"]
    assert (e.name, e.scheme, e.note) == ("emb.weight", scheme_name, None)
    assert not any("tied" in w for w in p.warnings)


def builtin(pol):
    """The same rules, located in a built-in policy."""
    rules = tuple(
        r.model_copy(update={"loc": r.loc.model_copy(update={"file": "<builtin>/lib"})})
        for r in pol.rules
    )
    return pol.model_copy(update={"rules": rules})


@pytest.mark.parametrize(
    ("order", "winner", "loser", "loser_name"),
    [
        (("emb", "head"), "zeros", "normal", "emb.weight"),
        (("head", "emb"), "normal", "zeros", "head.weight"),
    ],
)
def test_disagreeing_builtin_rules_on_a_tied_tensor_resolve_by_precedence(
    order, winner, loser, loser_name
):
    rules = {
        "emb": (S(types=("Embedding",)), scheme("normal", std=0.02)),
        "head": (S(types=("Linear",), named="head"), scheme("zeros")),
    }
    p = plan(builtin(policy(*(rules[k] for k in order))), graph(tie=True))
    (e,) = [e for e in p.entries if e.param.name == "emb.weight"]
    assert e.scheme == winner
    assert [(r.loc.file, r.loc.line) for r in e.overridden] == [("<builtin>/lib", 1)]
    assert e.note == (
        f"tied with {loser_name}: built-in rules disagree and the later one wins; "
        f"overridden {loser_name}: {loser}("
        + ("mean=0, std=0.02" if loser == "normal" else "")
        + ") by <builtin>/lib:1"
    )
    (w,) = [w for w in p.warnings if "tied" in w]
    assert w.startswith("emb.weight is tied with head.weight: built-in rules disagree; ")
    assert f"{loser}(" in w.split(" wins over ")[1]
    # the overridden rule lost its only match: explain lists it as always overridden
    assert [r.loc.line for r in p.always_overridden] == [1]


def test_a_user_rule_disagreeing_with_a_builtin_one_on_a_tied_tensor_is_still_an_error():
    lib = builtin(policy((S(types=("Embedding",)), scheme("normal", std=0.02))))
    user = policy((S(), scheme("zeros")), (S(types=("Linear",), named="head"), scheme("zeros")))
    mixed = lib.model_copy(
        update={"rules": (lib.rules[0], user.rules[1].model_copy(update={"index": 1}))}
    )
    with pytest.raises(PlanError, match=r"tied tensor emb\.weight"):
        plan(mixed, graph(tie=True))


def test_frozen_parameters_are_skipped_unless_included():
    pol = policy((S(types=("Linear",)), scheme("zeros")))
    p = plan(pol, graph(frozen=True))
    assert "mix.weight" not in entries(p)
    assert [(q.name, why) for q, why in p.skipped] == [("mix.weight", "frozen")]
    assert "mix.weight" in entries(plan(pol, graph(frozen=True), include_frozen=True))


@pytest.mark.parametrize(
    "skip", [{"fc1.weight": None, "emb.weight": None}, ["fc1.weight", "emb.weight"]]
)
def test_skip_leaves_checkpoint_tensors_alone(skip):
    p = plan(policy((S(types=("Linear", "Embedding")), scheme("zeros"))), graph(), skip=skip)
    assert "fc1.weight" not in entries(p) and "head.weight" in entries(p)
    assert sorted(q.name for q, why in p.skipped if why == "skipped") == [
        "emb.weight",
        "fc1.weight",
    ]


def test_unmatched_parameters_are_reported_and_strict_makes_them_an_error():
    pol = policy(
        (S(types=("Linear", "Conv2d", "LSTM", "Embedding", "BatchNorm2d")), scheme("zeros"))
    )
    p = plan(pol, graph())
    assert [q.name for q in p.unmatched] == [
        "fc1.bias",
        "blocks.0.conv.bias",
        "rnn.bias_ih_l0",
        "rnn.bias_hh_l0",
    ]
    with pytest.raises(
        PlanError, match=r"4 parameter\(s\) matched by no rule \(strict\): fc1.bias, "
    ):
        plan(pol, graph(), strict=True)


def test_did_you_mean_for_a_type_that_matches_nothing():
    p = plan(
        policy(
            (S(types=("Conv2D",)), scheme("zeros")), (S(types=("Transformer",)), scheme("zeros"))
        ),
        graph(),
    )
    assert p.warnings == [
        "p.pol:1: type 'Conv2D' matches no module of the model; did you mean 'Conv2d'?"
    ]


@pytest.mark.parametrize(
    ("arg", "policy_seed", "expected"), [(None, None, 0), (None, 5, 5), (3, 5, 3), (0, 5, 0)]
)
def test_seed_precedence(arg, policy_seed, expected):
    assert resolve_seed(arg, policy_seed) == expected
    assert (
        plan(policy((S(param="bias"), scheme("zeros")), seed=policy_seed), graph(), seed=arg).seed
        == expected
    )


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("count(Block)", 4),  # containers that own no tensor themselves
        ("count(ModuleList)", 1),
        ('count(Linear named "*.proj")', 4),
        ("count(Linear in Block)", 16),
        ("count(LayerNorm)", 9),
        ("count(Linear.bias)", 16),  # a tensor selector counts modules holding one
        ("count(Linear before gelu)", 4),
    ],
)
def test_count_on_a_real_model(expr, expected):
    import sys
    from pathlib import Path

    import initpolicy

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
    from transformer_block import build_model

    policy = initpolicy.load(f'Linear named "head" -> constant({expr})')
    report = policy.apply(build_model(), seed=0)
    assert report.plan.entries[0].args == {"val": float(expected)}
