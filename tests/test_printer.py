"""The one printer from IR to policy text (initpolicy/language/printer.py): every policy
printed parses back to the IR it was printed from, and a name is never syntax.

The round trip runs over every shipped, example, built-in and golden policy here; the
extractor zoo (tests/extractor/test_zoo.py) runs it over every generated policy.
"""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from initpolicy.catalog.schemes import SCHEMES
from initpolicy.cli.main import cli
from initpolicy.errors import PrintError
from initpolicy.language import printer
from initpolicy.language.builtins import builtin_policies
from initpolicy.language.ir import BinOp, Name, Neg, Num, SchemeArg, SchemeCall, Selector, Word
from initpolicy.language.loader import parse, parse_builtin, parse_file

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted(
    [
        *ROOT.glob("policies/*.pol"),
        *ROOT.glob("examples/*.pol"),
        *(ROOT / "tests/data/policies/good").glob("*.pol"),
    ]
)
#: A module name that, written unescaped, ends its string and adds a rule of its own.
INJECTION = 'x" -> zeros()\nLinear -> constant(1000)\n#'


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_a_printed_policy_parses_back_to_its_ir(path):
    ir = parse_file(path)
    text = printer.policy(ir)
    assert printer.same_rules(parse(text), ir)
    assert printer.policy(parse(text)) == text  # printing is a fixed point


@pytest.mark.parametrize("name", sorted(builtin_policies()))
def test_a_printed_builtin_parses_back_to_its_ir(name):
    ir = parse_builtin(name)
    assert printer.same_rules(parse(printer.policy(ir)), ir)


@pytest.mark.parametrize(
    ("node", "text"),
    [
        (BinOp(op="-", left=Name(name="fan_in"), right=BinOp(op="-", left=Num(value=1.0), right=Name(name="depth"))), "fan_in - (1 - depth)"),
        (BinOp(op="**", left=BinOp(op="**", left=Name(name="fan_in"), right=Num(value=2.0)), right=Num(value=3.0)), "(fan_in ** 2) ** 3"),
        (BinOp(op="**", left=Num(value=-2.0), right=Name(name="depth")), "(-2) ** depth"),
        (Neg(operand=BinOp(op="+", left=Name(name="fan_in"), right=Num(value=1.0))), "-(fan_in + 1)"),
        (BinOp(op="*", left=Name(name="fan_in"), right=Num(value=-0.5)), "fan_in * -0.5"),
    ],
)  # fmt: skip
def test_expressions_get_the_parentheses_their_tree_needs(node, text):
    assert printer.expression(node) == text
    call = SchemeCall(name="normal", args=(SchemeArg(name="std", value=node),))
    printed = printer.rule(Selector(types=("Linear",)), call)  # checked by parsing back
    assert printed == f"Linear -> normal(std={text})"


@pytest.mark.parametrize(
    "name", [INJECTION, 'a"b', "a\nb", "a\rb", "esc\x1b[2J", "bell\x07", "a\u2028b", "a\u202eb"]
)
def test_a_name_that_cannot_be_written_safely_is_refused(name):
    with pytest.raises(PrintError, match="cannot write"):
        printer.string(name)
    with pytest.raises(PrintError):
        printer.rule(Selector(named=name), SchemeCall(name="zeros"))


@pytest.mark.parametrize("name", ["h.0.mlp", "a*b", "w?", "fc[1]", "x]y", "a # b", "é.ü"])
def test_a_literal_glob_matches_its_name_and_nothing_else(name):
    glob = printer.literal_glob(name)
    assert fnmatch.fnmatchcase(name, glob)
    look_alikes = [name.replace(c, "Z") for c in "*?[" if c in name]
    assert not any(fnmatch.fnmatchcase(other, glob) for other in look_alikes)
    sel = Selector(types=("Linear",), named=glob)
    assert parse(printer.rule(sel, SchemeCall(name="zeros"))).rules[0].selector == sel


@pytest.mark.parametrize("typ", ["nn.Linear", "Linear) -> zeros()", "linear", "Lin\near", ""])
def test_a_type_name_that_is_not_a_camelcase_identifier_is_refused(typ):
    with pytest.raises(PrintError):
        printer.selector(Selector(types=(typ,)))


def test_a_comment_cannot_end_its_line():
    assert (
        printer.comment("a\nLinear -> ones()\x1b\u2029b\u202e")
        == "# a Linear -> ones()␛\ufffdb\ufffd"
    )


MODEL = """\
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.add_module({name!r}, nn.Linear(16, 16))
        self.add_module("fc\\x1b]0;title\\x07", nn.Linear(16, 16))
        self.add_module("tail", nn.Linear(16, 4))
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.constant_(m.weight, 0.3)

    def forward(self, x):
        for m in self.children():
            x = torch.relu(m(x))
        return x


def build_model():
    return Net()
"""


@pytest.fixture
def hostile(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.py").write_text(MODEL.format(name=INJECTION), encoding="utf-8")
    return tmp_path


def _written_rules(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    assert not any(c in text for c in "\x1b\x07\r\u2028"), text
    return [r.loc.text for r in parse(text).rules]


@pytest.mark.slow
def test_lint_fix_policy_never_writes_a_name_as_syntax(hostile):
    r = CliRunner().invoke(cli, ["lint", "net.py", "--static", "--fix-policy", "fixed.pol"])
    assert r.exit_code == 1, r.output
    rules = _written_rules(hostile / "fixed.pol")
    assert rules and not any("constant(1000)" in rule for rule in rules)
    # every rule of the fixed policy targets only the tensors its finding named
    plan = CliRunner().invoke(
        cli, ["explain", "net.py", "--policy", "fixed.pol", "--format", "json"]
    )
    assert plan.exit_code == 0, plan.output
    for p in json.loads(plan.stdout)["parameters"]:
        assert p["scheme"] != "constant", p


@pytest.mark.slow
def test_extract_never_writes_a_name_as_syntax(hostile):
    r = CliRunner().invoke(cli, ["extract", "net.py", "-o", "net.pol"])
    assert r.exit_code in (0, 2), r.output
    if r.exit_code == 2:  # refused: a name it needed cannot be written; nothing written
        assert "cannot write" in r.output and not (hostile / "net.pol").exists()
        return
    rules = _written_rules(hostile / "net.pol")
    assert not any("1000" in rule for rule in rules)


def _call(name, **args):
    value = {str: lambda v: Word(value=v), float: lambda v: Num(value=v)}
    return SchemeCall(
        name=name,
        args=tuple(
            SchemeArg(name=k, value=value.get(type(v), lambda x: x)(v)) for k, v in args.items()
        ),
    )


@pytest.mark.parametrize(
    ("call", "text"),
    [
        (_call("normal", std=0.02), "normal(0, 0.02)"),
        (_call("uniform", a=-0.1, b=0.1), "uniform(-0.1, 0.1)"),
        (_call("trunc_normal", std=0.02), "trunc_normal(0, 0.02)"),
        (_call("trunc_normal", std=0.02, a=-0.04, b=0.04), "trunc_normal(0, 0.02, -0.04, 0.04)"),
        (_call("kaiming_normal", nonlinearity="relu"), "kaiming_normal(fan_in, relu)"),
        (_call("kaiming_uniform", a=2.5), "kaiming_uniform(fan_in, leaky_relu, a=2.5)"),
        (_call("xavier_uniform"), "xavier_uniform()"),
        (_call("xavier_normal", gain=Name(name="gain")), "xavier_normal(gain=gain)"),
        (_call("dirac", groups=2.0), "dirac(groups=2)"),
        (_call("variance_scaling", scale=2.0), "variance_scaling(2, fan_in, truncated_normal)"),
        (_call("constant", val=0.5), "constant(0.5)"),
        (_call("zeros"), "zeros()"),
        (_call("keep"), "keep"),
        (_call("default"), "default"),
    ],
)
def test_the_short_form_writes_what_the_catalog_entry_shows(call, text):
    assert printer.short_scheme(call) == text


def _other(param):
    """An argument for ``param`` that is not its default: a word of its type, or an
    expression (checks only judge constants)."""
    from initpolicy.catalog.schemes import ENUMS

    if param.type in ENUMS:
        words = param.choices or ENUMS[param.type]
        return Word(value=next(w for w in reversed(words) if w != param.default))
    return BinOp(op="+", left=Name(name="fan_in"), right=Num(value=1.0))


@pytest.mark.parametrize("name", sorted(set(SCHEMES) - {"keep", "default"}))
def test_the_short_form_of_every_scheme_binds_every_argument_back(name):
    """Positions and keywords come from the catalog's ``shown``: with every argument
    given, the short form parses back to the same arguments, so the positional ones are
    the signature's leading numbers in order."""
    spec = SCHEMES[name]
    call = SchemeCall(
        name=name, args=tuple(SchemeArg(name=p.name, value=_other(p)) for p in spec.params)
    )
    text = printer.short_rule(Selector(types=("Linear",)), call)
    (back,) = parse(text).rules
    assert {a.name: a.value for a in back.scheme.args} == {a.name: a.value for a in call.args}
