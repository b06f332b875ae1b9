"""Stream layout v1 (initpolicy.applier.streams, .regions): any region of a tensor is
drawn alone and equals the same slice of the whole draw; the values depend on neither
the thread count nor the model around the tensor; a tensor that fits one tile keeps
0.1.0's values; a shard draws little beyond its own elements."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import initpolicy
from initpolicy.applier.fill import fill_
from initpolicy.applier.regions import bands, draw_region, stream_tasks
from initpolicy.applier.streams import STREAM_LAYOUT_VERSION, V1, Grid, Layout, derive
from initpolicy.applier.writes import visible_rows
from initpolicy.catalog.schemes import SCHEMES

#: Tiny tiles: many of them on small tensors (values differ from v1's).
SMALL = Layout(version=-1, tile_numel=96, tile_cols=16)

ARGS = {
    "uniform": {"a": -1.0, "b": 1.0},
    "normal": {"mean": 0.0, "std": 1.0},
    "trunc_normal": {},
    "truncated_normal": {},
    "constant": {"val": 0.5},
    "ones": {},
    "zeros": {},
    "eye": {},
    "dirac": {"groups": 2},
    "xavier_uniform": {},
    "xavier_normal": {},
    "kaiming_uniform": {"mode": "fan_in", "nonlinearity": "relu"},
    "kaiming_normal": {"mode": "fan_out", "nonlinearity": "relu"},
    "orthogonal": {},
    "sparse": {"sparsity": 0.3},
    "variance_scaling": {"scale": 2.0, "mode": "fan_avg", "distribution": "truncated_normal"},
    "lecun_normal": {},
    "lecun_uniform": {},
    "prior": {"p": 0.01},
    "linspace": {"start": -1.0, "end": 2.0},
}
REGIONS = [
    (slice(3, 20),),
    (slice(None), slice(5, 9)),
    (slice(1, 4), slice(2, 3)),
    (torch.tensor([0, 2, 3, 4]),),  # a strided shard
    (slice(None), torch.tensor([1, 4, 5])),
    (slice(0, 0),),  # an empty shard
]


def test_every_drawing_scheme_has_arguments_here():
    assert set(ARGS) == {n for n, s in SCHEMES.items() if s.sample or s.value}


@pytest.mark.parametrize("layout", [V1, SMALL], ids=["v1", "small"])
@pytest.mark.parametrize("scheme", sorted(ARGS))
def test_any_region_is_the_same_slice_of_the_whole_draw(layout, scheme):
    shapes = {"eye": [(37, 23)], "sparse": [(37, 23), (70, 1100)], "dirac": [(6, 6, 3, 3)]}
    for shape in shapes.get(scheme, [(37, 23), (70, 1100), (6, 6, 3, 3)]):
        kw = dict(fan_in=10.0, fan_out=20.0, shape=shape, seed=0, name="w", layout=layout)
        whole = draw_region(scheme, ARGS[scheme], **kw)
        for region in REGIONS:
            part = draw_region(scheme, ARGS[scheme], region=region, threads=2, **kw)
            assert torch.equal(whole[region], part), (shape, region)


def test_long_vectors_scalars_and_low_precision():
    normal = {"mean": 0.0, "std": 1.0}
    kw = dict(fan_in=1.0, fan_out=1.0, seed=3, name="b")
    long = draw_region("normal", normal, shape=(200_001,), **kw)  # 4 runs of 65536
    for a, b in ((0, 1), (65_530, 131_080), (199_000, 200_001)):
        part = draw_region("normal", normal, shape=(200_001,), region=(slice(a, b),), **kw)
        assert torch.equal(long[a:b], part)
    assert draw_region("uniform", {"a": 0.0, "b": 1.0}, shape=(), **kw).shape == ()
    bf16 = draw_region(
        "normal", normal, shape=(70, 1100), region=(slice(5, 9),), dtype=torch.bfloat16, **kw
    )
    f32 = draw_region("normal", normal, shape=(70, 1100), region=(slice(5, 9),), **kw)
    assert torch.equal(bf16, f32.to(torch.bfloat16))


@pytest.mark.parametrize(
    ("rows", "cols", "tile"),
    [
        (100, 100, (100, 100)),  # fits: one tile, 0.1.0's values
        (768, 2304, (64, 1024)),  # GPT-2's c_attn: 64 x 1024 tiles
        (50257, 768, (64, 768)),  # GPT-2's vocabulary: full rows
        (3000, 40, (1024, 40)),
        (200_001, 1, (65536, 1)),  # a long vector: runs of 65536
        (32, 14400, (32, 1024)),
    ],
)
def test_tile_shapes_of_layout_v1(rows, cols, tile):
    assert STREAM_LAYOUT_VERSION == V1.version == 1
    assert V1.tile_shape(rows, cols) == tile


def test_a_tile_is_one_draw_from_its_own_key():
    """Tile (i, j) of a 2 x 2-tile stream: torch's normal_ on a contiguous buffer of the
    tile's size, seeded with derive(seed, name, "tile:i:j"); tile (0, 0) with 0.1.0's key."""
    w = draw_region(
        "normal", {"mean": 0.0, "std": 1.0}, fan_in=1, fan_out=1, shape=(70, 1100), seed=5, name="w"
    )
    for (i, j), key in (((0, 0), derive(5, "w")), ((1, 1), derive(5, "w", "tile:1:1"))):
        r0, r1, c0, c1 = Grid.of(70, 1100).tile(i, j)
        tile = torch.empty(r1 - r0, c1 - c0).normal_(generator=torch.Generator().manual_seed(key))
        assert torch.equal(w[r0:r1, c0:c1], tile)


def test_a_tensor_within_one_tile_keeps_its_0_1_0_values():
    t = torch.empty(256, 256)
    fill_(t, "kaiming_normal", ARGS["kaiming_normal"], fan_in=256, fan_out=256,
          generator=torch.Generator().manual_seed(derive(0, "fc.weight")))  # fmt: skip
    drawn = draw_region("kaiming_normal", ARGS["kaiming_normal"], fan_in=256, fan_out=256,
                        shape=(256, 256), seed=0, name="fc.weight")  # fmt: skip
    assert torch.equal(t, drawn)


class Wide(nn.Module):
    def __init__(self, extra: bool = False) -> None:
        super().__init__()
        self.emb = nn.Embedding(4000, 96)
        self.extra = nn.Linear(96, 96) if extra else None
        self.up = nn.Linear(96, 3000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.emb(x)
        return self.up(self.extra(h) if self.extra is not None else h)


def test_values_depend_on_neither_the_thread_count_nor_the_other_layers():
    policy = 'Embedding -> normal(0, 0.02)\nLinear -> orthogonal()\nLinear named "up" -> kaiming_uniform(fan_in)\nbias -> uniform(-0.1, 0.1)'
    runs = []
    for threads, extra in ((1, False), (2, False), (3, True)):
        m = Wide(extra)
        initpolicy.apply(m, policy, seed=1, threads=threads)
        runs.append({n: p.detach().clone() for n, p in m.named_parameters() if "extra" not in n})
    for other in runs[1:]:
        assert all(torch.equal(runs[0][n], other[n]) for n in runs[0])


def test_bands_of_uneven_and_strided_indices():
    assert [(k, pos) for k, pos, _ in bands(range(5, 70), 64)] == [
        (0, slice(0, 59)),
        (1, slice(59, 65)),
    ]
    (k0, pos0, in0), (k1, pos1, in1) = bands(torch.tensor([1, 2, 3, 64, 66]), 64)
    assert (k0, pos0, in0, k1, pos1) == (0, slice(0, 3), slice(1, 4), 1, slice(3, 5))
    assert torch.equal(in1, torch.tensor([0, 2]))
    assert bands(range(0), 64) == []


def test_a_tensor_rule_then_a_block_rule_write_disjoint_rows():
    """Tasks run concurrently: the LSTM's bias_ih gets zeros() on all gates but the
    forget gate, which its [forget] rule writes."""
    plan = initpolicy.load("lstm").plan(nn.LSTM(20, 30))
    rows = dict(zip((e.name for e in plan.entries), visible_rows(plan.entries), strict=True))
    assert rows["bias_ih_l0"] == [(0, 30), (60, 120)]
    assert rows["bias_ih_l0[forget]"] == [None]
    assert rows["weight_ih_l0"] == [None]


def _drawn(shape, rows, cols):
    dest = torch.empty(len(rows), len(cols), device="meta")
    tasks = stream_tasks(dest, "normal", ARGS["normal"], fan_in=1, fan_out=1, shape=shape,
                         rows=rows, cols=cols, seed=0, parts=("w",))  # fmt: skip
    return sum(t.drawn for t in tasks)


GPT2 = [(768, 2304), (768, 768), (768, 3072), (3072, 768), (50257, 768), (1024, 768)]
LLAMA = [(4096, 4096), (11008, 4096), (4096, 11008), (32000, 4096)]


@pytest.mark.parametrize(
    ("shapes", "dim", "world", "limit"),
    [
        (GPT2, 0, 4, 1.01),  # FSDP: 64·k rows per rank, the vocabulary aside
        (GPT2, 1, 4, 3.9),  # TP: 768-wide tiles, 192 columns per rank
        (LLAMA, 0, 64, 1.15),
        (LLAMA, 1, 8, 1.95),  # 512 columns per rank of 1024-wide tiles
    ],
)
def test_drawn_over_own_elements_for_real_model_shapes(shapes, dim, world, limit):
    """Every rank of an FSDP Shard(0) or TP Shard(1) split (torch's own chunking) of
    GPT-2 small's and Llama-7B's matrices: what the shards draw over what they hold (the
    table in docs/distributed.md)."""
    from torch.distributed.tensor import Shard
    from torch.distributed.tensor._utils import _compute_local_shape_and_global_offset

    drawn = own = 0
    for shape in shapes:
        for rank in range(world):
            local, offset = _compute_local_shape_and_global_offset(
                shape, (world,), [rank], [Shard(dim)]
            )
            rows = range(offset[0], offset[0] + local[0])
            cols = range(offset[1], offset[1] + local[1])
            n = _drawn(shape, rows, cols)
            tr, tc = V1.tile_shape(*shape)
            assert n <= min(shape[0], len(rows) + 2 * (tr - 1)) * min(
                shape[1], len(cols) + 2 * (tc - 1)
            )
            drawn += n
            own += math.prod(local)
    assert drawn / own <= limit


class Scaled(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(2.0))
        self.lin = nn.Linear(3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x) * self.scale


def test_a_0_d_parameter_is_one_tile_and_measured():
    m = Scaled()
    report = initpolicy.apply(m, "scale -> normal(1, 0.1)\nLinear -> xavier_uniform()", seed=4)
    drawn = draw_region(
        "normal", {"mean": 1.0, "std": 0.1}, fan_in=1, fan_out=1, shape=(), seed=4, name="scale"
    )
    assert torch.equal(m.scale.detach(), drawn)
    assert report["scale"].measured_std == 0.0  # one value
