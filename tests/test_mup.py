"""Width and depth transfer as policy (docs/mup.md): the `with` clause, `as ROLE`, let
values given at load time, param_groups, forward multipliers, and the built-ins mup and
completep checked against their closed forms on real models built from configs."""

from __future__ import annotations

import copy
import io
import math
import re

import pytest
import torch
from click.testing import CliRunner

import initpolicy
from initpolicy.applier.multipliers import installed
from initpolicy.cli.main import cli
from initpolicy.errors import PlanError, PolicyError, UsageError
from initpolicy.planner.select import NamedTensor, roles_of
from initpolicy.tracer.tracing import trace

from . import _transfer_models as tm

# ------------------------------------------------------------------------------ language


def test_with_clause_and_role_parse_to_the_ir():
    ir = initpolicy.load(
        "let w = model_width\nLinear as (hidden|readout) -> keep with lr = 2 / w, output = 0.5"
    ).ir
    (rule,) = ir.rules
    assert rule.selector.role == ("hidden", "readout")
    assert [s.name for s in rule.settings] == ["lr", "output"]
    assert rule.setting("output").value == 0.5
    assert rule.setting("eps") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bias -> keep with foo = 1", "1:19: unknown setting 'foo'"),
        ("bias -> keep with lr = 1, lr = 2", "1:27: 'lr' is set twice in this rule"),
        ("Linear as hiden -> keep", "1:11: unknown role 'hiden'"),
        ("bias -> keep with lr = fan_in > 2", "a condition is not a number"),
        ("bias -> keep with lr = nope", "unknown name 'nope'"),
        ("bias -> zeros() bias", "unexpected 'bias' after the end of the rule"),
    ],
)
def test_bad_with_or_role_is_a_located_error(text, message):
    with pytest.raises(PolicyError, match=re.escape(message)):
        initpolicy.load(text)


def test_load_values_replace_lets_in_every_file():
    policy = initpolicy.load("completep", base_width=64, alpha=0.5)
    assert dict(policy.ir.values) == {"base_width": 64.0, "alpha": 0.5}
    # mup (included) and completep both define base_width: both take the value
    for rule in policy.rules:
        if "lr = base_width" in rule.loc.text:
            assert 64.0 in _numbers(rule.setting("lr")), rule.loc
            assert 256.0 not in _numbers(rule.setting("lr")), rule.loc


def _numbers(node) -> set[float]:
    from pydantic import BaseModel

    from initpolicy.language.ir import Num

    if isinstance(node, Num):
        return {node.value}
    if isinstance(node, BaseModel):
        return set().union(*(_numbers(getattr(node, f)) for f in type(node).model_fields))
    if isinstance(node, tuple):
        return set().union(*(_numbers(x) for x in node)) if node else set()
    return set()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"widht": 3}, "has no let named 'widht'"),
        ({"width": "3"}, "width must be a number, got str"),
        ({"width": float("nan")}, "width must be a finite number"),
        ({"width": True}, "width must be a number, got bool"),
    ],
)
def test_bad_load_values_are_usage_errors(values, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        initpolicy.load("mup", **values)


def test_a_let_may_name_depth_but_not_fan_in():
    initpolicy.load("let depth = model_depth\nbias -> keep with lr = depth")
    with pytest.raises(PolicyError, match="'fan_in' is a bound name"):
        initpolicy.load("let fan_in = 2\nbias -> keep")


def test_parsing_the_built_ins_with_values_imports_no_torch():
    import subprocess
    import sys

    code = (
        "import sys, initpolicy; initpolicy.load('completep', base_width=64, depth=8); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------------------ roles


def _roles(model: torch.nn.Module) -> dict[str, frozenset[str]]:
    g = trace(model)
    out: dict[str, frozenset[str]] = {}
    for lay in g.layers:
        for p in lay.parameters:
            out[p.name] = roles_of(NamedTensor(lay, p, p.name, p.local))
    return out


def test_roles_on_llama_come_from_the_trace():
    r = _roles(tm.llama(32, 2))
    assert r["model.embed_tokens.weight"] == {"input"}
    assert r["lm_head.weight"] == {"readout"}
    assert r["model.layers.0.self_attn.q_proj.weight"] == {"hidden", "query"}  # through rotary
    assert r["model.layers.0.self_attn.k_proj.weight"] == {"hidden"}
    assert r["model.layers.0.self_attn.o_proj.weight"] == {"hidden", "branch_end"}
    assert r["model.layers.1.mlp.down_proj.weight"] == {"hidden", "branch_end"}
    assert r["model.layers.1.mlp.up_proj.weight"] == {"hidden"}
    assert r["model.norm.weight"] == {"vector"}


def test_roles_on_vit_and_mlp():
    r = _roles(tm.vit(32, 2))
    assert r["patch_embed.proj.weight"] == {"input"}
    assert r["head.weight"] == {"readout"}
    # a fused qkv whose query is a block of its own (docs/mup.md): `as query` selects it
    assert r["blocks.0.attn.qkv.weight"] == {"hidden", "query"}
    assert r["blocks.1.mlp.fc2.weight"] == {"hidden", "branch_end"}
    assert r["cls_token"] == r["pos_embed"] == r["blocks.0.norm1.weight"] == {"vector"}
    r = _roles(tm.mlp(32, 2))
    assert r["net.0.weight"] == {"input"}
    assert r["net.2.weight"] == r["net.4.weight"] == {"hidden"}
    assert r["net.6.weight"] == {"readout"}
    assert r["net.2.bias"] == {"vector"}


@pytest.mark.parametrize(
    ("name", "width", "depth"),
    [("llama", 48, 3), ("gpt2", 48, 3), ("bert", 48, 3), ("vit", 48, 3), ("mlp", 48, 3)],
)
def test_model_width_and_depth(name, width, depth):
    g = trace(tm.FACTORIES[name](width, depth))
    assert g.width == width
    # transformers configs count layers; the trace counts residual adds (2 per ViT block);
    # a plain MLP has no residual adds: its mixing layers
    expected = {"vit": 2 * depth, "mlp": depth + 2}.get(name, depth)
    assert g.depth == expected


# ------------------------------------------------------------------------------ closed form


def _fan_in(name: str, w: torch.Tensor, model: torch.nn.Module) -> int:
    module = model.get_submodule(name.rpartition(".")[0])
    if type(module).__name__ == "Conv1D":  # transformers' Conv1D stores (in, out)
        return w.shape[0]
    return math.prod(w.shape[1:])


@pytest.mark.parametrize("name", ["llama", "gpt2", "bert", "vit", "mlp"])
def test_mup_closed_form(name):
    """Every parameter's std, lr multiplier and output multiplier against the formulas of
    μP (relative error <= 1e-6), and the drawn tensors' std against the planned one."""
    width, base = 128, 32
    model = tm.FACTORIES[name](width, 2)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    policy = initpolicy.load("mup", base_width=base)
    report = policy.apply(model, seed=0)
    roles = _roles(model)
    groups = policy.param_groups(model, lr=1e-3, weight_decay=0.1)
    lr_of = {n: g["lr"] for g in groups for n in g["param_names"]}
    assert sorted(lr_of) == sorted(n for n, _ in model.named_parameters())
    entries = {e.param.name: e for e in report.plan.entries}
    for n, p in model.named_parameters():
        role = roles.get(n)
        if role is not None and "hidden" in role:
            expected_std = 1 / math.sqrt(_fan_in(n, p, model))
            assert entries[n].std == pytest.approx(expected_std, rel=1e-6)
            # the draw: a sample std within 6 standard errors of the planned one
            se = expected_std / math.sqrt(2 * p.numel())
            assert abs(p.detach().std().item() - expected_std) < 6 * se + 1e-7
            assert lr_of[n] == pytest.approx(1e-3 * base / width, rel=1e-6)
        elif role is not None and "readout" in role and "tied" not in role:
            assert entries[n].std == 0 and not p.detach().any(), n  # a zero readout
            assert lr_of[n] == pytest.approx(1e-3, rel=1e-6)
        else:
            assert torch.equal(p.detach(), before[n]), n  # kept (a tied readout too)
            assert lr_of[n] == pytest.approx(1e-3, rel=1e-6)
    readouts = {n.rpartition(".")[0] for n, r in roles.items() if "readout" in r}
    readouts |= {a.rpartition(".")[0] for e in entries.values() for a in e.param.aliases}
    # a query layer of its own (Llama, BERT), or the query block of a fused qkv (GPT-2,
    # timm): logits × sqrt(d0 / d), the heads fixed, so d0 / d = base / width
    queries = {n.rpartition(".")[0] for n, r in roles.items() if "query" in r}
    assert bool(queries) == (name != "mlp")
    wanted = {m: base / width for m in readouts} | {q: math.sqrt(base / width) for q in queries}
    assert installed(model) == {m: pytest.approx(v, rel=1e-6) for m, v in wanted.items()}
    fused = name in ("gpt2", "vit")  # the multiplier on the query's features alone
    assert {q: report.plan.outputs[q].block for q in queries} == {
        q: (0, width) if fused else None for q in queries
    }


@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_completep_closed_form(alpha):
    """Every tensor's lr, Adam epsilon, weight decay and output multiplier against the
    CompleteP rules (Dey et al. 2025, Table 1, as EleutherAI/nanoGPT-mup@completep
    implements them), relative error <= 1e-6; alpha = 0.5 (depth-μP) makes each depth
    exponent visible."""
    width, base_w, depth, base_d = 64, 32, 6, 2
    lr, eps, wd = 1e-3, 1e-8, 0.1
    model = tm.llama(width, depth)
    policy = initpolicy.load("completep", base_width=base_w, base_depth=base_d, alpha=alpha)
    policy.apply(model, seed=0)
    groups = policy.param_groups(model, lr=lr, eps=eps, weight_decay=wd)
    by_name = {n: g for g in groups for n in g["param_names"]}
    m_n, m_l = width / base_w, depth / base_d
    ends = {
        f"model.layers.{i}.{s}" for i in range(depth) for s in ("self_attn.o_proj", "mlp.down_proj")
    }
    queries = {f"model.layers.{i}.self_attn.q_proj": m_n**-0.5 for i in range(depth)}
    wanted = {e: m_l**-alpha for e in ends} | {"lm_head": 1 / m_n} | queries
    assert installed(model) == {k: pytest.approx(v, rel=1e-6) for k, v in wanted.items()}
    roles = _roles(model)
    for n, _ in model.named_parameters():
        g, role = by_name[n], roles[n]
        # epsilon: every tensor, (width/base)^-1 (depth/base)^-alpha
        assert g["eps"] == pytest.approx(eps / m_n * m_l**-alpha, rel=1e-6), n
        if "hidden" in role:  # lr: width^-1 depth^(alpha-1); decoupled decay: × width
            assert g["lr"] == pytest.approx(lr / m_n * m_l ** (alpha - 1), rel=1e-6), n
            assert g["weight_decay"] == pytest.approx(wd * m_n, rel=1e-6), n
        elif n.startswith("model.layers."):  # a norm scale inside a block: depth^(alpha-1)
            assert role == {"vector"}
            assert g["lr"] == pytest.approx(lr * m_l ** (alpha - 1), rel=1e-6), n
            assert g["weight_decay"] == pytest.approx(wd, rel=1e-6), n
        else:  # embedding, final norm, readout
            assert g["lr"] == pytest.approx(lr, rel=1e-6), n
            assert g["weight_decay"] == pytest.approx(wd, rel=1e-6), n


# ------------------------------------------------------------------------------ attention


def _attention_logits(model: torch.nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """Each layer's attention logits (q kᵀ times the scale the model passes)."""
    return [call.logits for call in tm.attention_calls(model, x)]


@pytest.mark.parametrize(("width", "heads"), [(64, 4), (128, 4), (256, 4), (256, 16)])
def test_mup_scales_attention_logits_as_one_over_head_dim(width, heads):
    """μP's attention logits q·k/d on Llama, unedited: with the query's output multiplier
    the logits are q·k times sqrt(d0)/d (d0: the head dim at base_width 64 with the same
    heads; 1/d = 1/sqrt(d) at d0), the model's own 1/sqrt(d) times sqrt(d0/d), exactly."""
    import transformers as T

    model = T.LlamaForCausalLM(
        T.LlamaConfig(
            hidden_size=width, intermediate_size=2 * width, num_hidden_layers=2,
            num_attention_heads=heads, num_key_value_heads=heads, vocab_size=128,
            max_position_embeddings=64, attn_implementation="sdpa",
        )
    ).eval()  # fmt: skip
    d, d0 = width // heads, 64 // heads
    x = torch.randint(0, 128, (2, 12), generator=torch.Generator().manual_seed(0))
    policy = initpolicy.load("mup", base_width=64)
    policy.apply(model, seed=0)
    queries = {f"model.layers.{i}.self_attn.q_proj" for i in range(2)}
    assert {m for m, v in installed(model).items() if m != "lm_head"} == queries
    scaled = _attention_logits(model, x)
    initpolicy.applier.multipliers.remove(model)
    plain = _attention_logits(model, x)  # the same weights, the model's 1/sqrt(d)
    assert len(scaled) == len(plain) == 2
    # the first layer reads the same input either way (the later ones, the changed
    # attention): q·k = own * sqrt(d), and μP's logits are q·k * sqrt(d0) / d
    assert plain[0].abs().mean() > 0.01
    torch.testing.assert_close(scaled[0], plain[0] * math.sqrt(d) * math.sqrt(d0) / d)
    # heads growing with the width (the head dim fixed): the logits are the model's own
    same = initpolicy.load("mup", base_width=64, base_head_dim=d)
    same.attach(model)
    assert {m: v for m, v in installed(model).items() if m in queries} == {
        q: pytest.approx(1.0) for q in queries
    }


def test_head_dim_from_config_and_its_absence_is_a_clear_error():
    assert trace(tm.llama(96, 2)).head_dim == 24  # hidden_size / num_attention_heads
    assert trace(tm.gpt2(96, 2)).head_dim == 24  # GPT-2's n_embd / n_head
    assert trace(tm.mlp(96, 2)).head_dim is None

    class Attn(torch.nn.Module):  # a query layer of its own, no config
        def __init__(self):
            super().__init__()
            self.inp = torch.nn.Linear(16, 32)
            self.q, self.k, self.v = (torch.nn.Linear(32, 32) for _ in range(3))

        def forward(self, x):
            x = self.inp(x)
            q, k, v = self.q(x), self.k(x), self.v(x)
            return torch.softmax(q @ k.transpose(-1, -2), -1) @ v

    model = Attn()
    roles = _roles(model)
    assert roles["q.weight"] == {"hidden", "query"} and roles["k.weight"] == {"hidden"}
    with pytest.raises(PlanError, match="attention head dimension is unknown"):
        initpolicy.load("mup", base_width=16, width=32).apply(model, seed=0)
    initpolicy.load("mup", base_width=16, width=32, head_dim=8).apply(model, seed=0)
    assert installed(model) == {"q": pytest.approx(math.sqrt(0.5))}


# ------------------------------------------------------------------------------ groups


def test_param_groups_under_sgd_and_errors():
    model = tm.mlp(64, 2)
    policy = initpolicy.load("mup", base_width=32)
    groups = policy.param_groups(model, lr=0.1, optimizer="sgd")
    lr_of = {n: g["lr"] for g in groups for n in g["param_names"]}
    assert lr_of["net.2.weight"] == pytest.approx(0.1)  # hidden: unchanged under SGD
    assert lr_of["net.0.weight"] == lr_of["net.6.weight"] == pytest.approx(0.2)
    assert all("eps" not in g for g in groups)
    torch.optim.SGD(groups)  # accepted as they are
    # names sorted, each exactly once, same on a second call
    names = [n for g in groups for n in g["param_names"]]
    assert len(names) == len(set(names)) == len(list(model.parameters()))
    again = policy.param_groups(model, lr=0.1, optimizer="sgd")
    assert [g["param_names"] for g in again] == [g["param_names"] for g in groups]
    with pytest.raises(UsageError, match="optimizer must be one of adamw, adam, sgd"):
        policy.param_groups(model, lr=0.1, optimizer="lamb")
    with pytest.raises(UsageError, match="lr must be a finite number > 0"):
        policy.param_groups(model, lr=0)
    with pytest.raises(UsageError, match="SGD has none"):
        policy.param_groups(model, lr=0.1, optimizer="sgd", eps=1e-8)


# ------------------------------------------------------------------------------ multipliers


def _logits(model, x):
    out = model(x)
    return out.logits if hasattr(out, "logits") else out


def test_multipliers_survive_state_dict_and_attach():
    torch.manual_seed(0)
    x = torch.randint(0, 128, (2, 8))
    model = tm.gpt2(64, 2).eval()
    keys = list(model.state_dict())
    policy = initpolicy.load("mup", base_width=16)
    policy.apply(model, seed=0)
    assert list(model.state_dict()) == keys  # no key added or renamed
    # the readout's 16/64, and each c_attn's query block sqrt(d0/d) = sqrt(4/16)
    wanted = {"transformer.h.0.attn.c_attn": 0.5, "transformer.h.1.attn.c_attn": 0.5}
    wanted["lm_head"] = 0.25
    assert installed(model) == wanted
    ref = _logits(model, x)
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    buf.seek(0)
    fresh = tm.gpt2(64, 2).eval()
    fresh.load_state_dict(torch.load(buf))
    # loaded without its multipliers: another function from the same weights
    assert not torch.allclose(_logits(fresh, x) * 0.25, ref, rtol=1e-3, atol=1e-5)
    finding = [f for f in initpolicy.lint(fresh, policy, static=True).findings if f.code == "IP306"]
    assert sorted(f.target for f in finding) == sorted(wanted)
    assert policy.attach(fresh) == wanted
    policy.attach(fresh)  # twice: replaced, not stacked
    assert installed(fresh) == wanted
    assert torch.equal(_logits(fresh, x), ref)
    assert not [
        f for f in initpolicy.lint(fresh, policy, static=True).findings if f.code == "IP306"
    ]
    assert torch.equal(_logits(copy.deepcopy(fresh), x), ref)


@pytest.mark.slow
def test_multipliers_run_under_torch_compile():
    x = torch.randn(4, 16)
    model = tm.mlp(32, 1)
    initpolicy.load("mup", base_width=8).apply(model, seed=0)
    ref = model(x)
    compiled = torch.compile(model, backend="eager")
    torch.testing.assert_close(compiled(x), ref)
    assert installed(compiled) == {"net.4": 0.25}


# ------------------------------------------------------------------------------ CLI


MODEL_FILE = """
import torch
from torch import nn

def build_model(width=64, depth=1):
    layers = [nn.Linear(8, width), nn.ReLU()]
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(width, 3))
"""


def test_cli_set_gives_let_values(tmp_path):
    path = tmp_path / "model.py"
    path.write_text(MODEL_FILE)
    runner = CliRunner()
    args = ["explain", str(path), "--policy", "mup", "--format", "json"]
    result = runner.invoke(cli, [*args, "--set", "base_width=16"])
    assert result.exit_code == 0, result.output
    data = __import__("json").loads(result.stdout)
    assert data["outputs"] == [{"module": "4", "value": 0.25, "rule": data["outputs"][0]["rule"]}]
    assert data["values"] == {"base_width": 16.0}
    hidden = next(p for p in data["parameters"] if p["name"] == "2.weight")
    assert hidden["multipliers"]["lr"] == 0.25
    bad = runner.invoke(cli, [*args, "--set", "base_widht=16"])
    assert bad.exit_code == 2
    assert "has no let named 'base_widht'" in bad.output
    bad = runner.invoke(cli, [*args, "--set", "base_width"])
    assert bad.exit_code == 2
    assert "is not NAME=VALUE" in bad.output


# ------------------------------------------------------------------------------ FSDP2


@pytest.mark.slow
@pytest.mark.parametrize(("name", "world"), [("llama", 1), ("llama", 2), ("gpt2", 2)])
def test_fsdp2_gives_the_same_groups_multipliers_and_weights(name, world, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from . import mup_worlds

    out = tmp_path / f"w{world}.pt"
    script = Path(__file__).with_name("mup_worlds.py")
    args = [sys.executable, str(script), str(out), str(world), name]
    subprocess.run(args, check=True, timeout=300)
    sharded = torch.load(out, weights_only=False)
    single = mup_worlds.run(mup_worlds.build(name))
    assert sharded["same_on_every_rank"]
    assert sharded["groups"] == single["groups"]
    # (value, block): Llama's q_proj whole, GPT-2's c_attn on its query block [0:64]
    queries = {
        "llama": {f"model.layers.{i}.self_attn.q_proj": (0.5, None) for i in range(2)},
        "gpt2": {f"transformer.h.{i}.attn.c_attn": (0.5, (0, 64)) for i in range(2)},
    }[name]
    wanted = {"lm_head": (0.25, None)} | queries
    assert sharded["multipliers"] == single["multipliers"] == wanted
    assert sharded["params"].keys() == single["params"].keys()
    for key, tensor in single["params"].items():
        assert torch.equal(sharded["params"][key], tensor), key  # bit-identical
    torch.testing.assert_close(sharded["logits"], single["logits"])


# ------------------------------------------------------------------------------ coordcheck


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mlp", "gpt2", "llama"])
def test_coordcheck_mup_is_flat_and_the_standard_is_not(name):
    from initpolicy.coordcheck import coordcheck

    result = coordcheck(
        tm.FACTORIES[name], initpolicy.load("mup", base_width=64), widths=(64, 128, 256)
    )
    assert result.passed()
    assert result.worst("policy")[0][1] <= 0.35
    assert result.worst("standard")[0][1] >= 1.0
    # the query is judged before its multiplier (attention's 1/d): Llama's q_proj, and
    # GPT-2's c_attn with its query block's multiplier undone
    query = {"llama": "model.layers.0.self_attn.q_proj", "gpt2": "transformer.h.0.attn.c_attn"}
    if name in query:
        q = result.slopes("policy")[query[name]]
        assert all(s is not None and abs(s) <= 0.35 for s in q[1:])


@pytest.mark.slow
def test_coordcheck_command_exit_codes_and_plot(tmp_path):
    path = tmp_path / "model.py"
    path.write_text(MODEL_FILE)
    runner = CliRunner()
    png = tmp_path / "cc.png"
    args = ["coordcheck", f"{path}:build_model", "--widths", "64,128,256", "--steps", "2"]
    ok = runner.invoke(cli, [*args, "--set", "base_width=64", "--plot", str(png)])
    assert ok.exit_code == 0, ok.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "ok: policy's worst layer" in ok.stdout
    # a policy that changes nothing is the standard parametrization: it fails the check
    keep = tmp_path / "keep.pol"
    keep.write_text("as hidden -> keep\n")
    bad = runner.invoke(cli, [*args, "--policy", str(keep), "--format", "json"])
    assert bad.exit_code == 1, bad.output
    data = __import__("json").loads(bad.stdout)
    assert data["passed"] is False and data["variants"]["policy"]["worst"][0]["slope"] > 0.35
    usage = runner.invoke(cli, [*args[:2], "--widths", "64"])
    assert usage.exit_code == 2
