"""The recorder: one record per init call, element-wise last write, views, .data,
composites recognised by code object, factories and scalar arithmetic, transformers'
guarded wrappers."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from initpolicy.extractor.laws import absolute
from initpolicy.extractor.recorder import Recorder


def _ops(rec: Recorder) -> list[str]:
    return [r.op for r in rec.records]


def test_an_init_function_is_one_record_with_its_arguments():
    with Recorder() as rec:
        w = torch.empty(8, 4)
        nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
        nn.init.xavier_uniform_(w, gain=2.0)
    assert _ops(rec) == ["torch.nn.init.kaiming_normal_", "torch.nn.init.xavier_uniform_"]
    assert rec.records[0].args == {"a": 0.0, "mode": "fan_out", "nonlinearity": "relu"}
    assert rec.records[1].args == {"gain": 2.0}
    assert rec.owners(w).unique().tolist() == [1]


@pytest.mark.parametrize(
    "name", ["trunc_normal_", "orthogonal_", "xavier_normal_", "sparse_", "eye_"]
)
def test_non_dispatching_init_functions_are_recognised_by_code_object(name):
    w = torch.empty(6, 6)
    args = {"sparse_": (0.5,)}.get(name, ())
    with Recorder() as rec:
        getattr(nn.init, name)(w, *args)
    assert _ops(rec) == [f"torch.nn.init.{name}"]  # not its inner uniform_/erfinv_/copy_


def test_views_writes_through_data_and_last_write_wins():
    with Recorder() as rec:
        emb = nn.Embedding(5, 3, padding_idx=1)  # reset_parameters: normal_, then row 1 zero
        emb.weight.data.normal_(0, 0.02)
        with torch.no_grad():
            emb.weight[1].zero_()
            emb.weight[:, 0] = 0.5
    owners = rec.owners(emb.weight)
    ops = [rec.records[i].op for i in owners[:, 1].tolist()]
    assert ops == [
        "Tensor.normal_",
        "Tensor.zero_",
        "Tensor.normal_",
        "Tensor.normal_",
        "Tensor.normal_",
    ]
    assert {rec.records[i].args["val"] for i in owners[:, 0].tolist()} == {0.5}


def test_factories_and_scalar_arithmetic_carry_a_law():
    with Recorder() as rec:
        pos = nn.Parameter(torch.randn(1, 4, 8) * 0.02)
        scale = nn.Parameter(1e-6 * torch.ones(8))
        ls = nn.Parameter(torch.full((3,), 0.1))
    law = rec.records[int(rec.owners(pos).reshape(-1)[0])]
    assert (law.scheme, law.args) == ("normal", {"mean": 0.0, "std": 0.02})
    assert rec.records[int(rec.owners(scale)[0])].args == {"val": 1e-6}
    assert rec.records[int(rec.owners(ls)[0])].args == {"val": 0.1}


def test_in_place_affine_ops_transform_the_law():
    with Recorder() as rec:
        w = torch.empty(10, 10)
        nn.init.trunc_normal_(w, std=0.02)
        w.div_(math.sqrt(2.0 * 3))
    law = rec.records[int(rec.owners(w)[0, 0])]
    assert law.scheme == "trunc_normal" and law.parent is not None
    assert math.isclose(law.args["std"], 0.02 / math.sqrt(6), rel_tol=1e-12)


@pytest.mark.parametrize(
    ("make", "inner", "fn"),
    [
        # RecurrentGemma's RG-LRU, in place on a scratch tensor, then copied in
        (
            lambda t: t.copy_(
                torch.empty(6).uniform_(0.81, 0.998).log_().mul_(0.5).neg_().exp_().sub_(1).log_()
            ),
            {"a": 0.81, "b": 0.998},
            "log(exp(-(log(x) * 0.5)) - 1)",
        ),
        # out of place, functions and methods; affine steps before the map fold into the draw
        (
            lambda t: t.copy_(torch.log(torch.rand(6) * 0.5 + 0.25)),
            {"a": 0.25, "b": 0.75},
            "log(x)",
        ),
        (
            lambda t: t.copy_(torch.empty(6).uniform_(1, 2) ** 2 / 4),
            {"a": 1.0, "b": 2.0},
            "x ** 2 / 4",
        ),
        (lambda t: t.uniform_(1, 2).sqrt_().exp_(), {"a": 1.0, "b": 2.0}, "exp(sqrt(x))"),
        (
            lambda t: t.copy_(torch.pow(torch.empty(6).uniform_(1, 2), 0.5)),
            {"a": 1.0, "b": 2.0},
            "x ** 0.5",
        ),
    ],
)
def test_a_draw_through_element_wise_functions_is_the_draw_and_its_map(make, inner, fn):
    from initpolicy.extractor.records import printed

    with Recorder() as rec:
        p = nn.Parameter(torch.empty(6))
        with torch.no_grad():
            make(p)
    r = rec.records[int(rec.owners(p)[0])]
    assert (r.scheme, printed(r.fn)) == ("uniform", fn)
    assert r.args == pytest.approx(inner)


def test_unknown_in_place_op_is_recorded_as_unrecognised():
    with Recorder() as rec:
        w = torch.empty(4, 4)
        w.uniform_(-1, 1)
        w.clamp_(-0.5, 0.5)
    r = rec.records[int(rec.owners(w)[0, 0])]
    assert r.scheme is None and "clamp_" in r.op


def test_metadata_in_place_ops_are_not_writes():
    with Recorder() as rec:
        w = torch.zeros(3)
        w.requires_grad_(True)
    assert [r.op for r in rec.records] == ["torch.zeros"]


def test_timm_composites_take_the_outermost_frame():
    timm = pytest.importorskip("timm")
    from timm.layers import lecun_normal_, trunc_normal_, trunc_normal_tf_

    with Recorder() as rec:
        a, b, c = torch.empty(8, 8), torch.empty(8, 8), torch.empty(8, 8)
        trunc_normal_(a, std=0.02)
        trunc_normal_tf_(b, std=0.5, a=-2, b=2)
        lecun_normal_(c)
    assert _ops(rec) == [
        "timm.layers.trunc_normal_",
        "timm.layers.trunc_normal_tf_",
        "timm.layers.lecun_normal_",
    ]
    assert rec.records[1].args == {
        "mean": 0.0,
        "std": 0.5,
        "a": -1.0,
        "b": 1.0,
    }  # tf bounds are relative
    assert timm is not None


def test_transformers_guarded_wrappers_are_seen_and_the_flag_respected():
    init = pytest.importorskip("transformers.initialization")
    with Recorder() as rec:
        w, v = torch.empty(4, 4), torch.empty(4, 4)
        v._is_hf_initialized = True
        with init.guard_torch_init_functions():
            init.normal_(w, std=0.02)
            init.normal_(v, std=0.5)  # a loaded tensor: the wrapper writes nothing
    assert [(r.op, r.args["std"]) for r in rec.records] == [("torch.nn.init.normal_", 0.02)]
    assert rec.owners(v) is None


def test_sites_name_the_function_and_line_outside_the_machinery():
    with Recorder() as rec:
        nn.Linear(3, 4)
    site = rec.records[0].site
    assert site.function == "Linear.reset_parameters"
    assert site.file.endswith("torch/nn/modules/linear.py") and site.line > 0


def test_absolute_laws_use_torch_fans_of_the_view():
    with Recorder() as rec:
        w = torch.empty(6, 3)
        nn.init.kaiming_uniform_(w, a=math.sqrt(5))
    scheme, args = absolute(rec.records[0])
    assert scheme == "uniform" and math.isclose(args["b"], 1 / math.sqrt(3), rel_tol=1e-12)


def test_copy_of_a_tracked_tensor_keeps_its_law_and_of_computed_values_does_not():
    with Recorder() as rec:
        src = torch.empty(4, 4).normal_(0, 0.3)
        a, b = torch.empty(4, 4), torch.empty(4, 4)
        a.copy_(src)
        b.copy_(torch.arange(16.0).reshape(4, 4).sin())
    assert rec.records[int(rec.owners(a)[0, 0])].args == {"mean": 0.0, "std": 0.3}
    assert rec.records[int(rec.owners(b)[0, 0])].note == "copy of computed values"
