"""Reading an init function's source (initpolicy/extractor/source.py): the tests it made on
the written tensor's size (guards) and the expressions of the numbers it wrote, resolved
for one tensor; and what extract makes of them on RWKV, whose head gain is decided by a
shape test that values at one size cannot see."""

from __future__ import annotations

import math
import textwrap
import types

import pytest
import torch

from initpolicy.extractor import check, extract, record
from initpolicy.extractor.source import read, resolve
from initpolicy.language import expression
from tests.extractor.test_policy_text import rules


def _read(body: str, types: bool = False) -> tuple[list[str], dict[str, object]]:
    """The guards (as text; with ``types``, each followed by the types it was made on)
    and arguments of the write on the function's last line."""
    src = "def init(self, module, w):\n" + textwrap.indent(textwrap.dedent(body), "    ")
    guards, arguments = read(src, src.count("\n"))
    texts = [expression(g.cond) + (f" {g.types}" if types else "") for g in guards]
    return texts, {arg: value for _call, arg, value in arguments}


def _value(arguments: dict[str, object], name: str, **env: float) -> str | None:
    env = {k.replace("config_", "config."): v for k, v in env.items()}
    node = resolve(arguments[name], env)
    return None if node is None else expression(node)


def test_an_if_that_assigns_what_the_write_reads_is_a_guard_and_a_select():
    guards, args = _read(
        """
        std = 0.02
        if w.shape[0] == self.config.vocab_size:
            std = 0.01
        torch.nn.init.normal_(w, std=std)
        """
    )
    assert guards == ["fan_out == config.vocab_size", "fan_out != config.vocab_size"]
    assert _value(args, "std", fan_out=96, fan_in=8, config_vocab_size=96) == "0.01"
    assert _value(args, "std", fan_out=95, fan_in=8, config_vocab_size=96) == "0.02"


def test_the_else_branch_is_the_negated_test_and_a_branch_holding_the_write_counts():
    guards, _ = _read(
        """
        if module.in_features >= 1024:
            pass
        else:
            torch.nn.init.zeros_(module.weight)
        """
    )
    assert guards == ["fan_in < 1024"]  # the test negated: the comparison flipped


def test_the_size_of_another_tensor_is_not_the_written_ones():
    guards, args = _read(
        """
        if self.emb.weight.shape[0] == self.config.vocab_size:
            pass
        torch.nn.init.normal_(module.weight, std=self.emb.embedding_dim ** -0.5, mean=self.proj.in_features)
        """
    )
    assert guards == [] and args == {}
    _, args = _read(
        """
        shape = module.weight.data.shape
        torch.nn.init.normal_(module.weight, std=shape[1] ** -0.5, mean=module.out_features)
        """
    )
    assert _value(args, "std", fan_in=4.0) == "fan_in ** (-0.5)"
    assert _value(args, "mean", fan_out=3.0) == "fan_out"


@pytest.mark.parametrize(
    "test",
    [
        "self.flag and w.shape[0] == self.config.vocab_size",
        "self.flag",
        "w.shape[0] == self.vocab_size",  # not the config: an attribute of unknown meaning
    ],
)
def test_a_test_with_a_part_that_is_no_size_is_no_guard(test):
    guards, args = _read(
        f"""
        std = 0.02
        if {test}:
            std = 0.01
        torch.nn.init.normal_(w, std=std)
        """
    )
    assert guards == []
    assert "std" not in args  # which value reached the write is not known


def test_one_more_step_than_a_branch_a_max_is_read_as_a_max_at_every_size():
    # RWKV's gain: 1, or sqrt(out / in) where the layer widens; then halved on the head
    guards, args = _read(
        """
        shape = module.weight.shape
        gain = 1.0
        scale = 1.0
        if shape[0] > shape[1]:
            gain = math.sqrt(shape[0] / shape[1])
        if shape[0] == self.config.vocab_size and shape[1] == self.config.hidden_size:
            scale = 0.5
        gain *= scale
        init.orthogonal_(module.weight, gain=gain)
        """
    )
    assert guards == [
        "fan_out > fan_in",
        "fan_out <= fan_in",
        "fan_out == config.vocab_size and fan_in == config.hidden_size",
        "not (fan_out == config.vocab_size and fan_in == config.hidden_size)",
    ]
    head = {"fan_out": 96, "fan_in": 32, "config_vocab_size": 96, "config_hidden_size": 32}
    key = {**head, "fan_out": 64}
    assert _value(args, "gain", **head) == "max(1, sqrt(fan_out / fan_in)) * 0.5"
    assert _value(args, "gain", **key) == "max(1, sqrt(fan_out / fan_in))"


def test_a_select_that_is_no_extremum_is_decided_by_its_test_and_min_is_found_too():
    _, args = _read(
        """
        bound = 1 / math.sqrt(w.size(1)) if w.size(0) > w.size(1) else 0.1
        cap = 0.5
        if w.size(1) < 4:
            cap = w.size(1) / 8
        torch.nn.init.uniform_(w, a=-bound, b=cap)
        """
    )
    assert _value(args, "a", fan_out=8, fan_in=4) == "-(1 / sqrt(fan_in))"
    assert _value(args, "a", fan_out=2, fan_in=4) == "-0.1"
    assert _value(args, "b", fan_out=2, fan_in=2) == "min(0.5, fan_in / 8)"


def test_a_loop_forgets_what_it_assigns_and_a_returning_branch_does_not_reach_on():
    _, args = _read(
        """
        std = 0.02
        for _ in range(3):
            std = std * 2
        if w.shape[1] > 8:
            return
        gain = w.shape[1] ** 0.5
        torch.nn.init.normal_(w, std=std, mean=gain)
        """
    )
    assert "std" not in args
    assert _value(args, "mean", fan_out=1, fan_in=4) == "fan_in ** 0.5"


def test_unpacked_shapes_sub_configs_and_source_that_cannot_be_read():
    guards, args = _read(
        """
        out, inp = w.shape
        if out == self.config.text_config.vocab_size:
            torch.nn.init.normal_(w, std=inp ** -0.5)
        """
    )
    assert guards == ["fan_out == config.text_config.vocab_size"]
    assert _value(args, "std", fan_in=16.0) == "fan_in ** (-0.5)"
    assert read("def broken(:\n", 1) == ((), ())
    assert read("x = 1\n", 1) == ((), ())  # no function


# ------------------------------------------------------------------------ RWKV, for real


def _rwkv(hidden: int, inter: int, vocab: int):
    import transformers

    config = transformers.RwkvConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        attention_hidden_size=hidden,
        intermediate_size=inter,
        num_hidden_layers=2,
        context_length=16,
    )
    return lambda: transformers.RwkvForCausalLM(config)


@pytest.fixture(scope="module")
def rwkv_policy() -> str:
    result = extract(record(_rwkv(32, 64, 96)), target="rwkv")
    assert result.ok, result.warnings
    return result.text


@pytest.mark.slow
@pytest.mark.parametrize(
    ("hidden", "inter", "vocab"),
    [
        (48, 96, 96),  # the feed-forward key has the head's shape: halved by the code too
        (64, 96, 96),
        (64, 128, 40),  # the vocabulary narrower than the width: gain 0.5 on the head
        (56, 112, 96),
    ],
)
def test_rwkv_extracted_at_one_size_holds_where_shapes_coincide(rwkv_policy, hidden, inter, vocab):
    n, wrong = check(rwkv_policy, record(_rwkv(hidden, inter, vocab)))
    assert n > 0 and wrong == [], rwkv_policy
    assert "where fan_out == config.vocab_size and fan_in == config.hidden_size" in rwkv_policy


def test_an_isinstance_beside_or_around_a_test_is_the_type_the_rule_names():
    guards, _ = _read(
        """
        std = 0.02
        if isinstance(module, (nn.Linear, Conv1D)) and module.out_features == self.config.n_classes:
            std = 0.0
        torch.nn.init.normal_(module.weight, std=std)
        """,
        types=True,
    )
    assert guards == [
        "fan_out == config.n_classes ('Linear', 'Conv1D')",
        "fan_out != config.n_classes ('Linear', 'Conv1D')",
    ]
    guards, _ = _read(
        """
        if isinstance(module, nn.Embedding):
            pass
        elif isinstance(module, nn.Linear):
            if module.weight.shape[0] == self.config.vocab_size:
                torch.nn.init.zeros_(module.weight)
        """,
        types=True,
    )
    assert guards == ["fan_out == config.vocab_size ('Linear',)"]


def test_an_elif_holds_only_where_the_tests_before_it_failed():
    guards, args = _read(
        """
        if module.out_features == self.config.intermediate_size:
            std = 0.01
        elif module.in_features == self.config.intermediate_size:
            std = 0.02
        else:
            std = 0.03
        torch.nn.init.normal_(module.weight, std=std)
        """
    )
    # each side of each test, an elif's under the tests before it
    assert guards == [
        "fan_out == config.intermediate_size",
        "fan_out != config.intermediate_size",
        "fan_out != config.intermediate_size and fan_in == config.intermediate_size",
        "fan_out != config.intermediate_size and fan_in != config.intermediate_size",
    ]
    env = {"fan_out": 48, "fan_in": 48, "config_intermediate_size": 48}
    assert _value(args, "std", **env) == "0.01"  # both tests hold: the first wins


def test_a_config_alias_and_a_method_write_with_positional_arguments():
    guards, args = _read(
        """
        cfg = self.config
        std = cfg.initializer_range
        if module.weight.shape[0] == cfg.vocab_size:
            std = 0.02 / math.sqrt(2)
        module.weight.data.normal_(0.0, std)
        """
    )
    assert guards == ["fan_out == config.vocab_size", "fan_out != config.vocab_size"]
    env = {"fan_out": 96, "config_vocab_size": 96, "config_initializer_range": 0.02}
    assert _value(args, "std", **env) == "0.02 / sqrt(2)"
    assert _value(args, "mean", **env) == "0"
    assert _value(args, "std", **{**env, "fan_out": 95}) == "config.initializer_range"


# ------------------------------------ numbers that a count of blocks equals at one size


@pytest.mark.slow
def test_a_default_gain_is_no_count_of_stages():
    # timm's MaxViT: `nn.init.xavier_uniform_(module.weight)`, gain 1 by default; nano has
    # 4 stages and writes a 2 elsewhere, so 2 / sqrt(count(MaxxVitStage)) is 1 too
    timm = pytest.importorskip("timm")
    result = extract(record(lambda: timm.create_model("maxvit_nano_rw_256")), target="maxvit")
    assert result.ok, result.warnings
    assert "count(" not in result.text, result.text
    three = dict(depths=(1, 2, 1), embed_dim=(64, 128, 256))
    n, wrong = check(result.text, record(lambda: timm.create_model("maxvit_nano_rw_256", **three)))
    assert n > 0 and wrong == [], result.text


@pytest.mark.slow
def test_a_literal_the_code_wrote_is_no_config_over_a_count():
    # Qwen3-Next's `uniform_(0.01, 16).log_()`: with two layers 0.01 is also
    # initializer_range / sqrt(2 * num_hidden_layers)
    import transformers

    def build(layers: int):
        config = transformers.Qwen3NextConfig(
            vocab_size=96,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=layers,
            num_attention_heads=2,
            num_key_value_heads=1,
            head_dim=16,
            num_experts=4,
            num_experts_per_tok=2,
            moe_intermediate_size=32,
            shared_expert_intermediate_size=32,
            linear_num_key_heads=2,
            linear_num_value_heads=2,
            linear_key_head_dim=16,
            linear_value_head_dim=16,
            layer_types=["linear_attention", "full_attention", "linear_attention"][:layers],
        )
        return lambda: transformers.Qwen3NextForCausalLM(config)

    result = extract(record(build(2)), target="qwen3_next")
    assert result.ok, result.warnings
    assert "mapped(uniform(0.01, 16), log(x))" in result.text, result.text
    n, wrong = check(result.text, record(build(3)))
    assert n > 0 and wrong == [], result.text


def test_a_dimension_test_is_read_as_ndim():
    guards, _ = _read(
        """
        for name, p in self.named_parameters():
            if p.dim() > 1 and p.shape[0] == self.config.vocab_size:
                torch.nn.init.normal_(p, std=0.02)
        """
    )
    assert guards == ["ndim > 1 and fan_out == config.vocab_size"]


class _TwoWrites(torch.nn.Module):
    """Two branches, two writes: an input projection of width ``embed`` gets gain
    1/sqrt(2), any other plain xavier. At the default size only ``q`` has that width."""

    def __init__(self, embed: int = 32, kdim: int = 48, hidden: int = 64):
        super().__init__()
        self.config = types.SimpleNamespace(embed_dim=embed)
        self.q = torch.nn.Linear(embed, embed)
        self.k = torch.nn.Linear(kdim, embed)
        self.up = torch.nn.Linear(hidden, embed)
        for m in (self.q, self.k, self.up):
            if m.in_features == self.config.embed_dim:
                torch.nn.init.xavier_uniform_(m.weight, gain=1 / math.sqrt(2))
            else:
                torch.nn.init.xavier_uniform_(m.weight)


def test_a_test_deciding_between_two_writes_is_the_rule_of_its_smaller_side():
    result = extract(record(_TwoWrites), target="two_writes")
    assert result.ok, result.warnings
    assert "where fan_in == config.embed_dim" in result.text, result.text
    for size in ({"kdim": 32}, {"embed": 64, "kdim": 64}):  # k, then every layer, of width embed
        n, wrong = check(result.text, record(lambda s=size: _TwoWrites(**s)))
        assert n > 0 and wrong == [], result.text


class _TFixup(torch.nn.Module):
    """T-Fixup's encoder: xavier, then scaled in place by 0.67 * N ** -1/4."""

    def __init__(self, d: int = 32, layers: int = 2):
        super().__init__()
        self.config = types.SimpleNamespace(encoder_layers=layers)
        self.fc = torch.nn.ModuleList(torch.nn.Linear(d, 2 * d) for _ in range(layers))
        for lin in self.fc:
            torch.nn.init.xavier_uniform_(lin.weight)
            lin.weight.data.mul_(0.67 * self.config.encoder_layers ** (-1 / 4))


def test_a_draw_scaled_in_place_is_the_draw_with_the_codes_factor():
    result = extract(record(_TFixup), target="tfixup")
    assert result.ok, result.warnings
    want = "weight -> xavier_uniform(gain=0.67 * config.encoder_layers ** (-1 / 4))"
    assert want in [" ".join(r.split()) for r in rules(result.text)], result.text
    for size in ({"layers": 4}, {"d": 48, "layers": 6}):
        n, wrong = check(result.text, record(lambda s=size: _TFixup(**s)))
        assert n > 0 and wrong == [], result.text


# ------------------------------------------------- what the reader refuses to guess


def test_a_select_that_differs_from_max_beyond_the_numbers_it_names_is_no_max():
    _, args = _read(
        """
        gain = 1.0
        if w.shape[0] > w.shape[1] and w.shape[0] < 5000:
            gain = w.shape[0] / w.shape[1]
        torch.nn.init.orthogonal_(w, gain=gain)
        """
    )
    # decided per tensor (a rule on the test carries it), never max(1, fan_out / fan_in),
    # which is wrong for a vocabulary of 32000
    assert _value(args, "gain", fan_out=64, fan_in=32) == "fan_out / fan_in"
    assert _value(args, "gain", fan_out=32000, fan_in=1024) == "1"


def test_a_test_on_other_types_is_no_guard_of_this_branch():
    guards, _ = _read(
        """
        if isinstance(module, nn.Linear) and module.weight.shape[0] == self.config.vocab_size:
            pass
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, std=0.02)
        """,
        types=True,
    )
    assert guards == []  # the Embedding's shape was never tested
    guards, _ = _read(
        """
        std = 0.02
        if isinstance(module, nn.Linear) and module.weight.shape[0] == self.config.vocab_size:
            std = 0.01
            if module.weight.shape[1] > 16:
                std = 0.005
        torch.nn.init.normal_(module.weight, std=std)
        """,
        types=True,
    )
    assert all(g.endswith("('Linear',)") for g in guards), guards  # inner tests too


@pytest.mark.parametrize(
    "body",
    [
        "match kind:\n    case 1:\n        std = 0.01\n",
        "if (std := 0.01) > 0:\n    pass\n",
        "for _ in range(2):\n    std = 0.01\n",
        "try:\n    std = 0.01\nexcept ValueError:\n    pass\n",
    ],
)
def test_a_statement_the_reader_does_not_follow_forgets_what_it_sets(body):
    _, args = _read("std = 0.02\n" + body + "torch.nn.init.normal_(w, std=std)\n")
    assert "std" not in args


def test_a_write_in_a_loops_else_is_read_and_two_calls_of_a_name_are_not():
    _, args = _read(
        """
        std = 0.02
        for _ in range(2):
            pass
        else:
            torch.nn.init.normal_(w, std=std / 2)
        """
    )
    assert _value(args, "std") == "0.02 / 2"
    _, args = _read(
        "torch.nn.init.normal_(w, std=0.01) if self.flag else torch.nn.init.normal_(w, std=0.02)\n"
    )
    assert args == {}


def test_the_config_of_a_submodule_is_not_the_models():
    guards, _ = _read(
        """
        if w.shape[0] == self.vision_tower.config.hidden_size:
            torch.nn.init.zeros_(w)
        """
    )
    assert guards == []


def test_a_method_whose_docstring_starts_at_column_zero_is_read_from_its_file(tmp_path):
    import importlib.util

    from initpolicy.extractor.source import read_site

    path = tmp_path / "colzero.py"
    path.write_text(
        "import torch\n"
        "class M:\n"
        "    def init(self, w):\n"
        '        """A docstring whose next line starts at column zero:\n'
        'so the method alone cannot be dedented."""\n'
        "        if w.shape[0] == self.config.vocab_size:\n"
        "            torch.nn.init.zeros_(w)\n"
    )
    spec = importlib.util.spec_from_file_location("colzero", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    guards, _ = read_site(module.M.init.__code__, 7)
    assert [expression(g.cond) for g in guards] == ["fan_out == config.vocab_size"]
    assert read_site((lambda w: w).__code__, 1) == ((), ())  # a lambda: nothing read


class _ElifChain(torch.nn.Module):
    """Four branches on the shape: the vocabulary's rows, the up projection's, the down
    projection's columns, any other."""

    def __init__(self, vocab: int = 100, hidden: int = 32, inter: int = 64, n_layer: int = 2):
        super().__init__()
        self.config = types.SimpleNamespace(
            vocab_size=vocab, intermediate_size=inter, n_layer=n_layer
        )
        self.emb = torch.nn.Embedding(vocab, hidden)
        self.up = torch.nn.ModuleList(torch.nn.Linear(hidden, inter) for _ in range(n_layer))
        self.down = torch.nn.ModuleList(torch.nn.Linear(inter, hidden) for _ in range(n_layer))
        self.head = torch.nn.Linear(hidden, vocab)
        for m in self.modules():
            if isinstance(m, torch.nn.Linear | torch.nn.Embedding):
                self._init(m.weight)

    def _init(self, w: torch.Tensor) -> None:
        out, inp = w.shape
        if out == self.config.vocab_size:
            std = 0.01
        elif out == self.config.intermediate_size:
            std = 0.02 / math.sqrt(self.config.n_layer)
        elif inp == self.config.intermediate_size:
            std = 0.03
        else:
            std = 1 / math.sqrt(inp)
        torch.nn.init.normal_(w, mean=0.0, std=std)


def test_an_elif_chain_is_a_rule_per_branch_in_the_codes_order():
    result = extract(record(_ElifChain), target="elif_chain")
    assert result.ok, result.warnings
    # hidden == intermediate: up and down both have the intermediate size on each side,
    # and the up projection's test comes first
    for size in ({"hidden": 64}, {"vocab": 64, "n_layer": 3}):
        n, wrong = check(result.text, record(lambda s=size: _ElifChain(**s)))
        assert n > 0 and wrong == [], result.text
