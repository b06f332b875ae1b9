"""The built-in policy library, each applied to a model of its kind and checked against
its source (paper or library): the std/bound it reports, and the values it writes."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import initpolicy
from initpolicy.applier.streams import derive
from initpolicy.language.builtins import builtin_policies

from .models.corpus import ResNetTiny

LIBRARY = (
    "completep",
    "deepnorm",
    "fixup",
    "gpt2",
    "keras_default",
    "leaky_relu_net",
    "llama",
    "lstm",
    "lsuv",
    "mup",
    "pytorch_default",
    "relu_net",
    "resnet",
    "resnet_zero_init",
    "selu_net",
    "skipinit",
    "tanh_net",
    "tfixup",
    "vit_jax",
)


def std(t):
    return float(t.detach().float().std())


def amax(t):
    return float(t.detach().abs().max())


def test_the_library_is_complete():
    assert tuple(builtin_policies()) == LIBRARY


@pytest.mark.parametrize("name", LIBRARY)
def test_each_policy_says_what_it_reproduces_and_its_source(name):
    lines = builtin_policies()[name].read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith(f"# {name} — ")
    assert lines[1].startswith("# source: ")
    assert len(initpolicy.load(name).rules) >= 2


class MLP(nn.Module):
    def __init__(self, act: nn.Module, width: int = 512):
        super().__init__()
        self.fc1 = nn.Linear(256, width)
        self.act1 = act
        self.fc2 = nn.Linear(width, width)
        self.act2 = act
        self.out = nn.Linear(width, 10)

    def forward(self, x):
        return self.out(self.act2(self.fc2(self.act1(self.fc1(x)))))


@pytest.mark.parametrize(
    ("policy", "act", "fc1_std", "out_std"),
    [
        # He et al. 2015 eq. 10: std = sqrt(2 / fan_in); a linear output: 1 / sqrt(fan_in)
        ("relu_net", nn.ReLU(), math.sqrt(2 / 256), 1 / math.sqrt(512)),
        # eq. 15 with the traced slope 0.2: sqrt(2 / ((1 + 0.2²) fan_in))
        ("leaky_relu_net", nn.LeakyReLU(0.2), math.sqrt(2 / (1.04 * 256)), 1 / math.sqrt(512)),
        # Glorot & Bengio: sqrt(6 / (fan_in + fan_out)) bound, gain 5/3 for tanh
        ("tanh_net", nn.Tanh(), 5 / 3 * math.sqrt(2 / (256 + 512)), math.sqrt(2 / (512 + 10))),
        # Klambauer et al.: variance 1 / fan_in (truncated normal with Keras' correction)
        ("selu_net", nn.SELU(), 1 / math.sqrt(256), 1 / math.sqrt(512)),
    ],
)
def test_activation_policies(policy, act, fc1_std, out_std):
    m = MLP(act)
    report = initpolicy.apply(m, policy, seed=0)
    assert report["fc1.weight"].std == pytest.approx(fc1_std)
    assert report["out.weight"].std == pytest.approx(out_std)
    assert std(m.fc1.weight) == pytest.approx(fc1_std, rel=0.02)
    assert torch.equal(m.fc1.bias, torch.zeros(512))
    if policy == "tanh_net":
        assert amax(m.fc1.weight) <= 5 / 3 * math.sqrt(6 / 768)
    if policy == "selu_net":  # truncated at 2 underlying stds: 2 · std / 0.8796…
        assert amax(m.fc1.weight) <= 2 * fc1_std / 0.87962566103423978 * (1 + 1e-6)


def test_pytorch_default_is_torchs_own_linear_and_conv_init():
    m = nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 30 * 30, 32))
    initpolicy.apply(m, "pytorch_default", seed=9)
    w = torch.empty_like(m[0].weight)  # 432 elements: one tile, torch's own draw
    nn.init.kaiming_uniform_(
        w, a=math.sqrt(5), generator=torch.Generator().manual_seed(derive(9, "0.weight"))
    )
    assert torch.equal(m[0].weight, w)
    # 32 x 14400: 15 tiles of 32 x 1024 (the last 64 wide), each torch's uniform_ with the
    # weight's bound, from its own key (stream layout v1)
    bound = 1 / math.sqrt(14400)  # kaiming_uniform(a=sqrt(5)): gain sqrt(1/3), times sqrt(3)
    for j, key in ((0, derive(9, "3.weight")), (14, derive(9, "3.weight", "tile:0:14"))):
        tile = torch.empty(32, 64 if j == 14 else 1024)
        nn.init.uniform_(tile, -bound, bound, generator=torch.Generator().manual_seed(key))
        assert torch.allclose(m[3].weight[:, j * 1024 : (j + 1) * 1024], tile, rtol=0, atol=1e-9)
    for name, mod in (("0", m[0]), ("3", m[3])):
        fan_in = nn.init._calculate_fan_in_and_fan_out(mod.weight)[0]
        b = torch.empty_like(mod.bias)
        g = torch.Generator().manual_seed(derive(9, f"{name}.bias"))
        nn.init.uniform_(b, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in), generator=g)
        assert torch.equal(mod.bias, b)


def test_pytorch_default_keeps_other_modules_own_init():
    m = nn.Sequential(nn.Embedding(100, 64), nn.LayerNorm(64), nn.LSTM(64, 32))
    report = initpolicy.apply(m, "pytorch_default", seed=0)
    assert {e.scheme for e in report.entries} == {"default"}
    assert std(m[0].weight) == pytest.approx(1.0, rel=0.03)  # Embedding: N(0, 1)
    assert amax(m[2].weight_hh_l0) <= 1 / math.sqrt(32)  # LSTM: U(±1/sqrt(H))


class KerasNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(1000, 64)
        self.lstm = nn.LSTM(64, 64, batch_first=True)
        self.dense = nn.Linear(64, 300)
        self.bn = nn.BatchNorm1d(300)
        self.out = nn.Linear(300, 10)

    def forward(self, ids):
        h, _ = self.lstm(self.emb(ids))
        return self.out(torch.relu(self.bn(self.dense(h[:, -1]))))


def test_keras_default():
    m = KerasNet()
    initpolicy.apply(m, "keras_default", seed=0)
    # glorot_uniform on whole tensors: bound sqrt(6 / (fan_in + fan_out))
    for w, fan_in, fan_out in ((m.dense.weight, 64, 300), (m.lstm.weight_ih_l0, 64, 256)):
        bound = math.sqrt(6 / (fan_in + fan_out))
        assert bound * 0.98 < amax(w) <= bound
    assert amax(m.emb.weight) <= 0.05
    # the recurrent kernel is one orthogonal matrix over all gates (4H x H: orthonormal columns)
    w = m.lstm.weight_hh_l0.detach()
    assert torch.allclose(w.T @ w, torch.eye(64), atol=1e-5)
    assert torch.equal(m.dense.bias, torch.zeros(300))
    assert torch.equal(m.bn.weight, torch.ones(300)) and torch.equal(m.bn.bias, torch.zeros(300))
    gate = m.lstm.bias_ih_l0 + m.lstm.bias_hh_l0  # unit_forget_bias
    assert torch.equal(gate, torch.cat([torch.zeros(64), torch.ones(64), torch.zeros(128)]))


def test_lstm_policy_orthogonal_gates_and_forget_bias():
    m = KerasNet()
    initpolicy.apply(m, "lstm", seed=0)
    w = m.lstm.weight_hh_l0.detach()
    for gate in range(4):
        block = w[gate * 64 : (gate + 1) * 64]
        assert torch.allclose(block @ block.T, torch.eye(64), atol=1e-5)
    assert not torch.allclose(w[:64], w[64:128])  # each gate its own matrix
    gate = m.lstm.bias_ih_l0 + m.lstm.bias_hh_l0
    assert torch.equal(gate[64:128], torch.ones(64)) and gate[:64].abs().max() == 0
    bound = math.sqrt(6 / (64 + 256))
    assert amax(m.lstm.weight_ih_l0) <= bound


def test_resnet_and_zero_init_residual():
    m = ResNetTiny()
    report = initpolicy.apply(m, "resnet", seed=0)
    conv = m.down.conv2  # 4 -> 4, 3x3: fan_out = 4 · 9
    assert report["down.conv2.weight"].std == pytest.approx(math.sqrt(2 / 36))
    assert report["stem.weight"].args == {"a": 0.0, "mode": "fan_out", "nonlinearity": "relu"}
    assert conv.weight.shape == (4, 4, 3, 3)
    bns = [mod for mod in m.modules() if isinstance(mod, nn.BatchNorm2d)]
    assert all(torch.equal(b.weight, torch.ones_like(b.weight)) for b in bns)
    assert all(torch.equal(b.bias, torch.zeros_like(b.bias)) for b in bns)
    assert report["fc.weight"].scheme == "default"
    assert amax(m.fc.weight) <= 1 / math.sqrt(16)

    z = ResNetTiny()
    initpolicy.apply(z, "resnet_zero_init", seed=0)
    assert torch.equal(z.block.bn2.weight, torch.zeros(8))  # BasicBlock's last BN
    assert torch.equal(z.down.bn3.weight, torch.zeros(16))  # Bottleneck's last BN
    for b in (z.bn, z.block.bn1, z.down.bn1, z.down.bn2, z.down.downsample[1]):
        assert torch.equal(b.weight, torch.ones_like(b.weight))
    assert torch.equal(z.stem.weight, m.stem.weight)  # the rest is resnet's, same seed


transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()


def test_gpt2_matches_gpt2s_own_init():
    cfg = transformers.GPT2Config(n_layer=3, n_embd=128, n_head=4, vocab_size=500, n_positions=64)
    m = transformers.GPT2LMHeadModel(cfg)
    hf_c_proj = std(m.transformer.h[0].attn.c_proj.weight)  # transformers' own init
    report = initpolicy.apply(m, "gpt2", seed=0)
    residual = 0.02 / math.sqrt(2 * cfg.n_layer)
    for i in range(cfg.n_layer):
        for name in (
            f"transformer.h.{i}.attn.c_proj.weight",
            f"transformer.h.{i}.mlp.c_proj.weight",
        ):
            assert report[name].std == pytest.approx(residual)
        assert report[f"transformer.h.{i}.attn.c_attn.weight"].std == pytest.approx(0.02)
        assert report[f"transformer.h.{i}.mlp.c_fc.weight"].std == pytest.approx(0.02)
    assert std(m.transformer.h[0].mlp.c_proj.weight) == pytest.approx(residual, rel=0.03)
    assert hf_c_proj == pytest.approx(residual, rel=0.05)
    assert std(m.transformer.wte.weight) == pytest.approx(0.02, rel=0.03)
    assert m.lm_head.weight is m.transformer.wte.weight
    for name, p in m.named_parameters():
        if name.endswith("bias"):
            assert torch.equal(p, torch.zeros_like(p)), name
        if ".ln_" in name and name.endswith("weight"):
            assert torch.equal(p, torch.ones_like(p)), name
    assert report.unmatched == []


def test_llama_matches_llamas_own_init():
    cfg = transformers.LlamaConfig(
        vocab_size=500,
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        pad_token_id=0,
    )
    m = transformers.LlamaForCausalLM(cfg)
    report = initpolicy.apply(m, "llama", seed=0)
    assert report.unmatched == []
    for name, p in m.named_parameters():
        if "norm" in name:
            assert torch.equal(p, torch.ones_like(p)), name
        else:
            assert std(p) == pytest.approx(0.02, rel=0.05), name
    assert torch.equal(m.model.embed_tokens.weight[0], torch.zeros(128))  # padding_idx


class ViT(nn.Module):
    """timm's VisionTransformer layout, small: patch_embed.proj, cls_token, pos_embed,
    blocks.N.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}, norm, head."""

    def __init__(self, dim=192, depth=2, patch=4, img=32, classes=10):
        super().__init__()
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(3, dim, patch, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, (img // patch) ** 2 + 1, dim))
        self.blocks = nn.ModuleList()
        for _ in range(depth):
            b = nn.Module()
            b.norm1, b.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
            b.attn = nn.Module()
            b.attn.qkv, b.attn.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
            b.mlp = nn.Module()
            b.mlp.fc1, b.mlp.fc2 = nn.Linear(dim, 4 * dim), nn.Linear(4 * dim, dim)
            self.blocks.append(b)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)
        self.heads = 3

    def forward(self, x):
        x = self.patch_embed.proj(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], 1) + self.pos_embed
        for b in self.blocks:
            q, k, v = b.attn.qkv(b.norm1(x)).chunk(3, -1)
            x = x + b.attn.proj(torch.softmax(q @ k.transpose(1, 2), -1) @ v)
            x = x + b.mlp.fc2(nn.functional.gelu(b.mlp.fc1(b.norm2(x))))
        return self.head(self.norm(x)[:, 0])


def test_vit_jax():
    m = ViT()
    report = initpolicy.apply(m, "vit_jax", seed=0)
    assert report.unmatched == []
    qkv = m.blocks[0].attn.qkv.weight
    bound = math.sqrt(6 / (192 + 576))
    assert bound * 0.98 < amax(qkv) <= bound
    assert torch.equal(m.blocks[0].attn.qkv.bias, torch.zeros(576))
    assert std(m.blocks[0].mlp.fc1.bias) == pytest.approx(1e-6, rel=0.15)
    assert torch.equal(m.head.weight, torch.zeros(10, 192)) and torch.equal(
        m.head.bias, torch.zeros(10)
    )
    fan_in = 3 * 4 * 4
    assert std(m.patch_embed.proj.weight) == pytest.approx(1 / math.sqrt(fan_in), rel=0.05)
    assert std(m.pos_embed) == pytest.approx(0.02, rel=0.05)
    assert std(m.cls_token) == pytest.approx(1e-6, rel=0.3)
    assert torch.equal(m.norm.weight, torch.ones(192))
