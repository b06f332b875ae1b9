"""`initpolicy lint` at the scale people train: Llama-architecture 1B, 8B and 70B configs built
on the meta device (bench/llama_configs.py), each command a whole process, timed, with its
peak RSS. Targets (issue 23): `lint` (the model's own init) and `lint --policy llama` within
2 min (8B) / 5 min (70B) at a peak RSS under 4 GiB (8B) / 6 GiB (70B); a policy that puts
std 1.0 on every down_proj is reported on every down_proj. `explain --policy llama` is the
reference (it plans the same model and reads no values).

    .venv/bin/python bench/bench_lint_scale.py [SIZE ...] [--only explain,own,llama,down]
    # default: 1B 8B 70B, every command

Prints one row per command: wall and CPU seconds, peak RSS, the blocks the streamed passes
ran, the findings (by code), how the dynamic pass ran.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

from llama_configs import SIZES  # bench/ is on the path of a script run from it

ROOT = Path(__file__).resolve().parent.parent
TARGET = f"{ROOT / 'bench' / 'llama_configs.py'}:build_model"
DOWN_PROJ = 'use llama\nLinear named "*down_proj" -> normal(0, 1.0)\n'
TARGETS = {"8B": (120.0, 4.0), "70B": (300.0, 6.0)}  # seconds, GiB


def run_measured(size: str, args: list[str]) -> dict:
    """One CLI command in its own process: wall and CPU seconds, peak RSS, its JSON."""
    env = {**os.environ, "INITPOLICY_LLAMA_SIZE": size, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "initpolicy", *args]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        pid = os.posix_spawn(
            sys.executable, cmd, env, file_actions=[
                (os.POSIX_SPAWN_DUP2, out.fileno(), 1), (os.POSIX_SPAWN_DUP2, err.fileno(), 2)
            ],
        )  # fmt: skip
        _, status, usage = os.wait4(pid, 0)
        wall = time.perf_counter() - t
        out.seek(0)
        err.seek(0)
        text, errors = out.read().decode(), err.read().decode()
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = {}
    return {
        "rc": os.waitstatus_to_exitcode(status),
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss": usage.ru_maxrss / 2**20,  # KiB -> GiB
        "data": data,
        "err": errors[-600:],
    }


def verdict(size: str, what: str, r: dict) -> str:
    """The line that states a target and whether this run met it ('' where none applies)."""
    limit = TARGETS.get(size)
    if limit is None:
        return ""
    if what == "lint --policy down=1.0":
        hit = {f["target"] for f in r["data"].get("findings", []) if f["code"] == "IP104"}
        down = [t for t in hit if t.endswith("mlp.down_proj.weight")]
        want = SIZES[size]["num_hidden_layers"]
        ok = "ok" if len(down) == want else "NOT MET"
        return (
            f"{size} down_proj std 1.0 reported on {len(down)}/{want} down_proj (target all) {ok}"
        )
    if what not in ("lint (own init)", "lint --policy llama"):
        return ""
    wall = "ok" if r["wall"] <= limit[0] else "over"
    rss = "ok" if r["rss"] < limit[1] else "over"
    return (
        f"{size} {what}: {r['wall']:.0f} s wall, {r['cpu']:.0f} CPU s, peak {r['rss']:.2f} GiB "
        f"(target <= {limit[0]:g} s, < {limit[1]:g} GiB): time {wall}, memory {rss}"
    )


def describe(r: dict, what: str) -> str:
    summary = r["data"].get("summary", {})
    streamed = summary.get("streamed", {})
    blocks = ",".join(f"{len(v['ran'])}/{v['of']}" for v in streamed.get("blocks", {}).values())
    codes: dict[str, int] = {}
    for f in r["data"].get("findings", []):
        codes[f["code"]] = codes.get(f["code"], 0) + 1
        if f["code"] == "IP104" and "down_proj" in f["target"]:
            codes["down_proj"] = codes.get("down_proj", 0) + 1
    found = " ".join(f"{k}x{v}" for k, v in sorted(codes.items())) or "-"
    if what == "explain":
        found = f"{len(r['data'].get('parameters', []))} parameters planned"
    dynamic = str(summary.get("dynamic", "-")).split(";")[0][:40]
    return (
        f"{what:<22} rc={r['rc']}  {r['wall']:7.1f} s  cpu {r['cpu']:7.1f} s  "
        f"peak {r['rss']:5.2f} GiB  blocks {blocks or '-':<6} {dynamic:<40}  {found}"
    )


KEYS = {
    "explain": "explain --policy llama",
    "own": "lint (own init)",
    "llama": "lint --policy llama",
    "down": "lint --policy down=1.0",
}


def main(sizes: list[str], only: list[str]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        bad = Path(tmp) / "down_proj_std1.pol"
        bad.write_text(DOWN_PROJ)
        commands = {
            "explain --policy llama": ["explain", TARGET, "--policy", "llama", "--format", "json"],
            "lint (own init)": ["lint", TARGET, "--format", "json"],
            "lint --policy llama": ["lint", TARGET, "--policy", "llama", "--format", "json"],
            "lint --policy down=1.0": ["lint", TARGET, "--policy", str(bad), "--format", "json"],
        }
        failed = False
        verdicts: list[str] = []
        print(f"load average before: {os.getloadavg()[0]:.1f}; {os.cpu_count()} cores")
        for size in sizes:
            print(f"\nLlama-architecture {size} on meta")
            for what, args in commands.items():
                if what not in {KEYS[k] for k in only}:
                    continue
                r = run_measured(size, args)
                print(describe(r, "explain" if what.startswith("explain") else what), flush=True)
                if r["rc"] not in (0, 1):
                    print("   " + r["err"].replace("\n", "\n   "))
                    failed = True
                verdicts.append(verdict(size, what, r))
        print(f"\nload average after: {os.getloadavg()[0]:.1f}")
        print("\n".join(v for v in verdicts if v))
    return 1 if failed else 0


if __name__ == "__main__":
    args = sys.argv[1:]
    only = list(KEYS)
    if "--only" in args:
        i = args.index("--only")
        only = args[i + 1].split(",")
        del args[i : i + 2]
    sys.exit(main(args or ["1B", "8B", "70B"], only))
