"""Sharded initialization on torch.distributed (gloo on loopback, CPU processes):
``policy.apply`` on FSDP2 (Shard(0)), tensor parallel (Shard(1), Replicate) and a 2-D
FSDP x TP mesh, on meta and materialized models, at world sizes 1, 2, 3 (uneven shards)
and 4 (an empty shard; the 2 x 2 mesh), against single-process apply of the same policy
and seed.

The worlds run once per session in one subprocess (tests/sharded_worlds.py forks the
ranks); the references are computed here, in a single process, on unsharded models.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

import initpolicy
from initpolicy.applier.streams import Grid
from initpolicy.shards.dtensor import matrix_shape
from tests import sharded_cases as cases

#: It starts process groups (gloo).
#: one worker runs the module (its module fixture is costly): see tests/conftest.py
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("distributed")]

pytest.importorskip("transformers")
if not torch.distributed.is_available():  # pragma: no cover
    pytest.skip("torch.distributed is not available", allow_module_level=True)

WORLDS = (1, 2, 3, 4)
TIMES: dict[str, float] = {}


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict[str, Any]]:
    out = tmp_path_factory.mktemp("worlds")
    here = Path(__file__).resolve().parent
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(here / "sharded_worlds.py"), str(out), *map(str, WORLDS)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    TIMES["all worlds, with imports"] = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr[-6000:]
    for line in proc.stdout.splitlines():
        if line.startswith("world "):
            name, seconds = line.split(":")
            TIMES[name] = float(seconds.split()[0])
    return {w: torch.load(out / f"w{w}.pt", weights_only=False) for w in WORLDS}


_REFS: dict[str, dict[str, Any]] = {}


def reference(name: str) -> dict[str, Any]:
    """Single-process apply (and lint) of the case's policy and seed, unsharded."""
    if name not in _REFS:
        case = cases.CASES[name]
        model = cases.build(case)
        report = initpolicy.apply(model, case.policy, seed=cases.SEED)
        full = {n: p.detach().clone() for n, p in model.named_parameters(remove_duplicate=False)}
        full.update({f"buffer:{n}": b.clone() for n, b in model.named_buffers()})
        lint = initpolicy.lint(model, static=True)
        _REFS[name] = {
            "full": full,
            "measured": {e.name: e.measured_std for e in report.entries},
            "lint": [(f.code, f.target) for f in lint.findings],
        }
    return _REFS[name]


def _runs(worlds: dict[int, dict[str, Any]]) -> list[tuple[int, str, dict[str, Any]]]:
    return [(w, k, v) for w, r in worlds.items() for k, v in r.items() if not k.startswith("_")]


def test_every_case_ran_at_every_world_size(worlds):
    for w, r in worlds.items():
        expected = {n for n, c in cases.CASES.items() if c.shard == "fsdp" or w > 1}
        assert {k for k in r if not k.startswith("_")} == expected


def test_full_tensors_are_bit_identical_to_single_process(worlds):
    """Every parameter's and buffer's gathered full_tensor() equals single-process apply,
    for every case at every world size, on 1-D and 2-D meshes."""
    mismatched, checked = [], 0
    for w, name, info in _runs(worlds):
        ref = reference(name)["full"]
        assert set(info["full"]) == set(ref), (w, name)
        for n, t in info["full"].items():
            checked += 1
            if not torch.equal(t, ref[n]):
                mismatched.append((w, name, n))
    assert mismatched == []
    assert checked > 450


def test_the_same_model_on_tp_and_fsdp_x_tp_meshes(worlds):
    """TPNet on 1 x 2 and 1 x 3 (uneven) tensor-parallel meshes and on the 2 x 2 FSDP x TP
    mesh: the same tensors, and the placements read as torch gives them."""
    fulls = [worlds[w]["tp_meta"]["full"] for w in (2, 3, 4)]
    for n in fulls[0]:
        assert torch.equal(fulls[0][n], fulls[1][n]) and torch.equal(fulls[0][n], fulls[2][n]), n
    at4 = worlds[4]["tp_meta"]["placements"]
    assert at4["down.weight"] == "S(0)@dp=2, S(1)@tp=2"
    assert at4["down.bias"] == "S(0)@dp=2, R@tp=2"
    assert at4["up.weight"] == "_S(0, 2)@dp=2, S(0)@tp=2"  # FSDP over a colwise layer
    assert at4["mid.weight"] == "S(0)@dp=2"
    assert worlds[3]["tp_meta"]["placements"]["emb.weight"] == "S(1)@tp=3"


def test_tied_lm_head_stays_tied(worlds):
    for w, r in worlds.items():
        for name in ("gpt2", "gpt2_titan"):
            assert r[name]["tied"], (w, name)
            full = r[name]["full"]
            assert torch.equal(full["lm_head.weight"], full["transformer.wte.weight"])


def test_buffers_are_filled(worlds):
    """BatchNorm's statistics (reset_running_stats) and RoPE's inv_freq (transformers'
    _init_weights) on models built on meta, then sharded."""
    inv_freq = dict(cases.llama().named_buffers())["model.rotary_emb.inv_freq"]
    for r in worlds.values():
        mlp = r["mlp_meta"]["full"]
        assert torch.equal(mlp["buffer:1.running_mean"], torch.zeros(70))
        assert torch.equal(mlp["buffer:1.running_var"], torch.ones(70))
        assert torch.equal(r["llama"]["full"]["buffer:model.rotary_emb.inv_freq"], inv_freq)


def test_the_embeddings_padding_row_is_zero_on_whichever_rank_holds_it(worlds):
    for r in worlds.values():
        w = r["emb"]["full"]["emb.weight"]
        assert torch.equal(w[3], torch.zeros(40)) and bool(w[4].abs().sum() > 0)


def test_planning_runs_no_collective_and_leaves_a_meta_model_on_meta(worlds):
    """Trace and plan with FSDP2's and TP's hooks in place (the MLP policy needs a traced
    forward): no collective, nothing materialized."""
    for w, name, info in _runs(worlds):
        assert info["plan_collectives"] == [], (w, name)
        assert info["still_meta"] in (True, None), (w, name)


def test_apply_communicates_once(worlds):
    """One all_gather per apply (every rank's statistics and whether it failed); none at
    world size 1."""
    for w, name, info in _runs(worlds):
        assert info["apply_collectives"] == ([] if w == 1 else ["all_gather"]), (w, name)


def test_a_plain_model_in_a_process_group_is_applied_and_linted_without_communication(worlds):
    """DDP's case: every rank holds the whole model, and one rank may lint it alone."""
    for r in worlds.values():
        assert r["_unsharded_collectives"] == []


def test_the_report_has_one_line_per_tensor_and_the_whole_tensors_std(worlds):
    for w, name, info in _runs(worlds):
        ref = reference(name)["measured"]
        assert list(info["measured"]) == list(ref), (w, name)
        for n, std in info["measured"].items():
            assert std == pytest.approx(ref[n], rel=1e-9, abs=1e-12), (w, name, n)
    text = worlds[3]["gpt2"]["report"]
    assert "placement" in text.splitlines()[1]
    assert text.count("transformer.wte.weight") == 1 and "S(0)@dp=3" in text


def test_explain_shows_placements_and_what_is_computed_whole(worlds):
    placements = worlds[4]["tp_meta"]["explain_json"]  # explain --format json: additive
    assert placements["down.weight"] == "S(0)@dp=2, S(1)@tp=2"
    assert placements["mid.bias"] == "S(0)@dp=2"
    text = worlds[2]["lstm"]["explain"]
    assert "    shard S(0)@dp=2\n" in text
    note = "    shard S(0)@dp=2; computed whole on every rank, then sliced (~14.9 KiB transient"
    assert note in text  # orthogonal on a 30 x 30 gate block: 17 B per element


def test_lint_reduces_statistics_over_ranks_and_finds_what_a_single_process_finds(worlds):
    from initpolicy.linter.run import SHARDED_DYNAMIC
    from initpolicy.linter.subject import stats_of

    for w, name, info in _runs(worlds):
        assert info["lint"] == reference(name)["lint"], (w, name)
        assert info["lint_dynamic"] == SHARDED_DYNAMIC
        assert set(info["lint_collectives"]) <= {"all_gather", "all_reduce"}, (w, name)
        for n, st in info["lint_stats"].items():
            ref = stats_of(info["full"][n] if w == 1 else reference(name)["full"][n])
            assert (st.numel, st.min, st.max) == (ref.numel, ref.min, ref.max), (w, name, n)
            assert st.std == pytest.approx(ref.std, rel=1e-6, abs=1e-9), (w, name, n)


def test_lint_with_a_policy_says_a_sharded_model_cannot_be_copied(worlds):
    message = worlds[2]["gpt2"]["lint_with_policy"]
    assert message.startswith("lint with a policy initializes a copy of the model, and a sharded")
    assert "hint: apply the policy to the model on every rank, then lint it" in message


@pytest.mark.parametrize("meta", [False, True], ids=["materialized", "meta"])
def test_a_failing_rank_fails_every_rank_and_undoes_the_writes(worlds, meta):
    """An error on the last rank: it raises it, every other rank raises PeerError (none
    waits in a collective), and every rank's shards are as before (a meta model is on meta
    again)."""
    for w, r in worlds.items():
        outcomes = r[f"_failure_{'meta' if meta else 'real'}"]
        assert outcomes[-1] == ("ValueError: injected on the last rank", True), w
        for outcome, restored in outcomes[:-1]:
            assert outcome == (
                f"PeerError: initialization failed on rank(s) [{w - 1}]; "
                "this rank's writes were undone"
            )
            assert restored


def test_a_shard_draws_at_most_one_band_of_tiles_beyond_each_edge(worlds):
    """Counted on every shard of every world: a shard of r rows and c columns draws at
    most (r + 2(TR - 1)) x (c + 2(TC - 1)) elements, and an empty shard nothing."""
    checked = 0
    for w, name, info in _runs(worlds):
        for e_name, shape, rows, spans, drawn in info["drawn"]:
            stream = (rows[1] - rows[0], *shape[1:]) if rows else shape
            grid = Grid.of(*matrix_shape(stream))
            r0, r1 = spans[0]
            if rows is not None:
                r0, r1 = max(r0, rows[0]), max(min(r1, rows[1]), max(r0, rows[0]))
            cols = grid.cols
            if len(shape) > 1:
                cols = (spans[1][1] - spans[1][0]) * (grid.cols // shape[1])
            own = (r1 - r0) * cols
            bound = min(grid.rows, r1 - r0 + 2 * (grid.tr - 1)) * min(
                grid.cols, cols + 2 * (grid.tc - 1)
            )
            assert drawn <= (bound if own else 0), (w, name, e_name, drawn, own)
            checked += 1
    assert checked > 200


def test_worlds_run_in_under_two_minutes(worlds):
    print("\ndistributed test timings (s):", {k: round(v, 1) for k, v in TIMES.items()})
    assert sum(TIMES[f"world {w}"] for w in WORLDS) < 120
    assert math.isfinite(TIMES["all worlds, with imports"])
