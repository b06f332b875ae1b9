"""The policy parser: IR shapes, binding, precedence, includes, limits, robustness.

Message texts are pinned by the golden cases (test_parser_golden.py); these tests pin
the IR and the behaviour around it.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from initpolicy import load
from initpolicy.catalog.activations import CANONICAL, canonical
from initpolicy.catalog.blocks import BLOCKS
from initpolicy.catalog.schemes import ENUMS, SCHEMES
from initpolicy.errors import PolicyError
from initpolicy.language.evaluation import evaluate
from initpolicy.language.grammar import parser
from initpolicy.language.ir import (
    BinOp,
    Call,
    Compare,
    Count,
    Loc,
    Name,
    Num,
    Rule,
    SchemeArg,
    SchemeCall,
    Selector,
    Word,
)
from initpolicy.language.lines import MAX_LINE_CHARS
from initpolicy.language.loader import MAX_ERRORS, MAX_RULES, parse, parse_any, parse_file

REPO = Path(__file__).resolve().parents[1]


def one(text: str) -> Rule:
    ir = parse(text)
    assert len(ir.rules) == 1
    return ir.rules[0]


def errors(text: str, **kw: object) -> list[str]:
    with pytest.raises(PolicyError) as info:
        parse(text, **kw)  # type: ignore[arg-type]
    return [f"{d.line}:{d.column}: {d.message}" for d in info.value.diagnostics]


# --------------------------------------------------------------------------- the design card


def test_design_card_examples_parse_to_exact_ir() -> None:
    ir = parse("Linear before ReLU -> kaiming_normal(fan_in)\nbias -> constant(0.01)", "card.pol")
    assert ir.rules == (
        Rule(
            selector=Selector(types=("Linear",), before=("relu",)),
            scheme=SchemeCall(
                name="kaiming_normal", args=(SchemeArg(name="mode", value=Word(value="fan_in")),)
            ),
            loc=Loc(
                file="card.pol",
                line=1,
                column=1,
                text="Linear before ReLU -> kaiming_normal(fan_in)",
            ),
            index=0,
        ),
        Rule(
            selector=Selector(param="bias"),
            scheme=SchemeCall(
                name="constant", args=(SchemeArg(name="val", value=Num(value=0.01)),)
            ),
            loc=Loc(file="card.pol", line=2, column=1, text="bias -> constant(0.01)"),
            index=1,
        ),
    )
    assert ir.source == "card.pol" and ir.files == ("card.pol",) and ir.seed is None


def test_product_sample_lines_each_parse() -> None:
    text = (REPO / "tests/data/policies/good/relu_net_sample.pol").read_text()
    product = Path("/work/shared/PRODUCT.md")
    if product.exists():  # the sample is copied verbatim from the product brief
        for line in text.splitlines()[1:]:
            assert line in product.read_text()
    ir = parse(text)
    assert [r.scheme.name for r in ir.rules] == [
        "kaiming_normal",
        "kaiming_normal",
        "xavier_uniform",
        "xavier_normal",
        "orthogonal",
        "ones",
        "normal",
        "normal",
        "constant",
    ]
    gpt2 = ir.rules[6].scheme.arg("std")
    assert gpt2 == BinOp(
        op="/",
        left=Num(value=0.02),
        right=Call(
            fn="sqrt",
            args=(Count(selector=Selector(types=("Linear", "Conv1D"), named="*.c_proj")),),
        ),
    )
    assert evaluate(gpt2, {}, count=lambda s: 24.0) == pytest.approx(0.02 / 24**0.5)


def test_load_accepts_text_file_and_builtin_name(tmp_path: Path) -> None:
    path = tmp_path / "p.pol"
    path.write_text("bias -> zeros()\n")
    assert load(str(path)).rules[0].loc.file == str(path)
    assert len(load("Linear -> orthogonal()\nbias -> zeros()").rules) == 2


# --------------------------------------------------------------------------- selectors


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Linear", Selector(types=("Linear",))),
        ("Conv*", Selector(types=("Conv*",))),
        ("(Linear|Conv1D)", Selector(types=("Linear", "Conv1D"))),
        ("*", Selector(types=("*",))),
        ("bias", Selector(param="bias")),
        ("*_weight", Selector(param="*_weight")),
        ("LSTM.weight_hh*", Selector(types=("LSTM",), param="weight_hh*")),
        ("BatchNorm2d.running_var", Selector(types=("BatchNorm2d",), param="running_var")),
        ("LSTM.bias_ih*[forget]", Selector(types=("LSTM",), param="bias_ih*", block="forget")),
        ("MultiheadAttention[v]", Selector(types=("MultiheadAttention",), block="v")),
        ('named "h.*.attn"', Selector(named="h.*.attn")),
        ("Linear in (Encoder|Decoder)", Selector(types=("Linear",), inside=("Encoder", "Decoder"))),
        (
            "Linear before (Tanh|Sigmoid|tanh)",
            Selector(types=("Linear",), before=("tanh", "sigmoid")),
        ),
        ("Linear before Swish", Selector(types=("Linear",), before=("silu",))),
        ("Linear after Conv*", Selector(types=("Linear",), after=("Conv*",))),
        (
            "Linear where fan_in >= 2 * fan_out",
            Selector(
                types=("Linear",),
                where=Compare(
                    op=">=",
                    left=Name(name="fan_in"),
                    right=BinOp(op="*", left=Num(value=2.0), right=Name(name="fan_out")),
                ),
            ),
        ),
    ],
)
def test_selector_forms(text: str, expected: Selector) -> None:
    assert one(f"{text} -> keep").selector == expected


@pytest.mark.parametrize("word", [*CANONICAL, "ReLU", "LeakyReLU", "SiLU", "Swish", "GELU", "Tanh"])
def test_every_activation_spelling_is_accepted(word: str) -> None:
    assert one(f"Linear before {word} -> keep").selector.before == (canonical(word),)


@pytest.mark.parametrize(("module", "block"), [(m, b) for m, bs in BLOCKS.items() for b in bs])
def test_every_block_of_every_packed_type(module: str, block: str) -> None:
    assert one(f"{module}[{block}] -> zeros()").selector.block == block


# --------------------------------------------------------------------------- schemes


def _minimal_call(name: str) -> str:
    scheme = SCHEMES[name]
    args = {"val": "0.5", "sparsity": "0.5", "p": "0.01"}
    return f"{name}({', '.join(args[p.name] for p in scheme.params if p.required)})"


@pytest.mark.parametrize("name", sorted(SCHEMES))
def test_every_scheme_parses_with_its_required_arguments(name: str) -> None:
    rule = one(f"Linear -> {_minimal_call(name)}")
    assert rule.scheme.name == name
    assert {a.name for a in rule.scheme.args} == {
        p.name for p in SCHEMES[name].params if p.required
    }


@pytest.mark.parametrize(
    ("call", "bound"),
    [
        ("kaiming_normal(fan_out)", {"mode": "fan_out"}),
        ("kaiming_normal(relu)", {"nonlinearity": "relu"}),
        (
            "kaiming_uniform(tanh, fan_in, 0.1)",
            {"nonlinearity": "tanh", "mode": "fan_in", "a": 0.1},
        ),
        (
            "variance_scaling(uniform, 2, fan_avg)",
            {"distribution": "uniform", "scale": 2.0, "mode": "fan_avg"},
        ),
        ("variance_scaling(distribution=normal)", {"distribution": "normal"}),
        ("trunc_normal(0, 1, -3)", {"mean": 0.0, "std": 1.0, "a": -3.0}),
        ("normal(std=2, mean=1)", {"mean": 1.0, "std": 2.0}),
    ],
)
def test_words_bind_by_type_and_numbers_by_position(call: str, bound: dict[str, object]) -> None:
    args = one(f"Linear -> {call}").scheme.args
    got = {a.name: a.value.value for a in args if isinstance(a.value, Num | Word)}
    assert got == bound


@pytest.mark.parametrize(("kind", "word"), [(k, w) for k, ws in ENUMS.items() for w in ws])
def test_every_enum_word_is_rejected_where_no_argument_takes_it(kind: str, word: str) -> None:
    if word in ("fan_in", "fan_out", "fan_avg"):  # also bound names: a number here
        assert one(f"Linear -> normal(0, {word})").scheme.arg("std") == Name(name=word)
        return
    assert errors(f"Linear -> normal(0, {word})") == [
        f"1:21: '{word}' is a {kind} word, but normal takes no {kind}"
    ]
    assert errors(f"Linear -> normal(0, std={word})") == [
        f"1:25: argument 'std' of normal must be a number, not the word '{word}'"
    ]


# --------------------------------------------------------------------------- precedence and includes


def test_rules_keep_file_order_so_later_rules_win(tmp_path: Path) -> None:
    (tmp_path / "base.pol").write_text("Linear -> xavier_uniform()\nbias -> zeros()\n")
    (tmp_path / "main.pol").write_text(
        'Embedding -> normal(0, 1)\nuse "base.pol"\nLinear -> orthogonal()\n'
    )
    ir = parse_file(tmp_path / "main.pol", "main.pol")
    assert [(r.index, r.loc.file, r.loc.line, r.scheme.name) for r in ir.rules] == [
        (0, "main.pol", 1, "normal"),
        (1, "base.pol", 1, "xavier_uniform"),
        (2, "base.pol", 2, "zeros"),
        (3, "main.pol", 3, "orthogonal"),
    ]


def test_lets_are_local_to_their_file(tmp_path: Path) -> None:
    (tmp_path / "base.pol").write_text("let std = 0.5\nLinear -> normal(0, std)\n")
    (tmp_path / "main.pol").write_text('use "base.pol"\nbias -> normal(0, std)\n')
    with pytest.raises(PolicyError) as info:
        parse_file(tmp_path / "main.pol", "main.pol")
    (d,) = info.value.diagnostics
    assert (d.file, d.line, d.message) == ("main.pol", 2, "unknown name 'std'")


def test_the_including_files_seed_wins(tmp_path: Path) -> None:
    (tmp_path / "base.pol").write_text("seed 1\nbias -> zeros()\n")
    (tmp_path / "a.pol").write_text('seed 2\nuse "base.pol"\n')
    (tmp_path / "b.pol").write_text('use "base.pol"\n')
    assert parse_file(tmp_path / "a.pol").seed == 2
    assert parse_file(tmp_path / "b.pol").seed == 1


def test_use_in_text_is_relative_to_base_dir(tmp_path: Path) -> None:
    (tmp_path / "base.pol").write_text("bias -> zeros()\n")
    assert len(parse('use "base.pol"', base_dir=tmp_path).rules) == 1


def test_parse_any_prefers_an_existing_file_then_a_builtin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    builtin = tmp_path / "lib" / "relu_net.pol"
    builtin.parent.mkdir()
    builtin.write_text("Linear before ReLU -> kaiming_normal(fan_in)\n")
    monkeypatch.setattr(
        "initpolicy.language.loader.builtin_policies", lambda: {"relu_net": builtin}
    )
    monkeypatch.chdir(tmp_path)
    assert parse_any("relu_net").rules[0].loc.file == "<builtin>/relu_net"
    (tmp_path / "relu_net.pol").write_text("bias -> zeros()\n")
    assert parse_any("relu_net.pol").rules[0].loc.file == "relu_net.pol"
    # a file not named *.pol is no policy: the built-in of that name is meant
    (tmp_path / "relu_net").write_text("bias -> zeros()\n")
    assert parse_any("relu_net").rules[0].loc.file == "<builtin>/relu_net"
    with pytest.raises(PolicyError, match="no such policy file or built-in policy") as info:
        parse_any("relu_nett")
    assert info.value.diagnostics[0].hint == "did you mean relu_net?"


# --------------------------------------------------------------------------- errors


def test_every_bad_line_is_reported_not_only_the_first() -> None:
    text = "\n".join(["Linear -> nope()", "bias -> zeros()", "Linear -> normal(0, -1)", "x ->"])
    assert errors(text) == [
        "1:11: unknown scheme 'nope'",
        "3:21: argument 'std' of normal must be >= 0 (got -1)",
        "4:5: missing scheme after '->'",
    ]


def test_one_line_can_report_several_mistakes() -> None:
    assert errors("Linear before Relux -> kaiming_normal(fan_inn, a=-1)") == [
        "1:15: unknown activation 'Relux'",
        "1:39: unknown name 'fan_inn'",
        "1:50: argument 'a' of kaiming_normal must be >= 0 (got -1)",
    ]


def test_errors_stop_after_max_errors() -> None:
    diags = errors("garbage here\n" * (MAX_ERRORS * 3))
    assert len(diags) == MAX_ERRORS + 1
    assert diags[-1] == f"None:None: too many errors; stopped after {MAX_ERRORS}"


# --------------------------------------------------------------------------- sizes and limits


def test_empty_and_comment_only_policies_are_valid() -> None:
    assert parse("").rules == ()
    assert parse("# nothing\n\n   \n# at all").rules == ()


@pytest.mark.slow  # a subprocess, or megabytes of input
def test_ten_megabytes_of_comments() -> None:
    text = ("# " + "x" * 98 + "\n") * 100_000 + "bias -> zeros()\n"
    assert len(text) > 10_000_000
    assert len(parse(text).rules) == 1


def test_a_ten_megabyte_line_is_too_long() -> None:
    assert errors("Linear -> normal(0, " + "1 + " * 2_600_000 + "1)") == [
        f"1:1: rule is too long (10,400,022 characters; the limit is {MAX_LINE_CHARS:,})"
    ]


@pytest.mark.slow  # a subprocess, or megabytes of input
def test_ten_megabytes_of_rules_stop_at_the_rule_limit() -> None:
    line = 'Linear before ReLU named "encoder.layers.*.mlp" -> kaiming_normal(fan_in)\n'
    text = line * (10_000_000 // len(line) + 1)
    assert errors(text) == [
        f"{MAX_RULES + 1}:1: too many rules (the limit is {MAX_RULES:,}, includes expanded)"
    ]


def test_deepest_allowed_expression_still_evaluates() -> None:
    rule = parse_file(REPO / "tests/data/policies/good/nested_32.pol").rules[2]
    std = rule.scheme.arg("std")
    assert std is not None and evaluate(std, {"fan_in": 1.0}) == 100.0  # type: ignore[arg-type]


def test_parser_is_built_once() -> None:
    assert parser() is parser()


@pytest.mark.slow  # a subprocess, or megabytes of input
def test_parsing_never_imports_torch() -> None:
    code = textwrap.dedent(
        """
        import sys
        import initpolicy
        assert "torch" not in sys.modules, "import initpolicy imported torch"
        from initpolicy.language.loader import parse
        from initpolicy.cli.policy import check
        ir = parse("Linear before ReLU -> kaiming_normal(fan_in)\\nbias -> constant(0.01)")
        assert len(ir.rules) == 2
        initpolicy.load("Linear -> orthogonal()")
        assert "torch" not in sys.modules, sorted(m for m in sys.modules if "torch" in m)
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_includes_cannot_multiply_rules_past_the_limit(tmp_path: Path) -> None:
    # Each level includes the one below ten times: 10**5 rules if nothing stopped it.
    (tmp_path / "l0.pol").write_text("bias -> zeros()\n")
    for level in range(1, 6):
        (tmp_path / f"l{level}.pol").write_text(f'use "l{level - 1}.pol"\n' * 10)
    with pytest.raises(PolicyError) as info:
        parse_file(tmp_path / "l5.pol", "l5.pol")
    (d,) = info.value.diagnostics
    assert (d.file, d.line, d.message) == (
        "l5.pol",
        2,
        f"too many rules (the limit is {MAX_RULES:,}, includes expanded)",
    )
