"""docs/lint.md, generated from the rules' own docstrings, so the two cannot drift
(tests/test_lint_docs.py asserts the committed file is current). Torch-free.

    python -m initpolicy.linter.docs > docs/lint.md
"""

from __future__ import annotations

import textwrap

from .bands import BANDS, band
from .findings import FOLD_ORDER
from .registry import all_rules
from .rule import LintRule
from .thresholds import THRESHOLDS

#: Where each rule's test cases live, as data (passing and failing examples).
CASES_DIR = "tests/data/lint"

_INTRO = """\
# `initpolicy lint`

`initpolicy lint model.py` answers: what is wrong with this model's initialization, how
do we know, and what should it be? It checks every parameter against the activation the
tracer finds after its layer, runs one forward and backward pass to watch the signal, and,
with `--policy P`, lints the parameters as that policy would initialize them (on a deep
copy) with findings pointing at the policy's lines.

```console
$ initpolicy lint examples/mlp.py                          # the model's weights as they are
$ initpolicy lint examples/mlp.py --policy relu_net.pol    # as the policy would set them
$ initpolicy lint examples/mlp.py --static --select IP1    # no forward pass; static rules only
$ initpolicy lint examples/mlp.py --format sarif -o lint.sarif   # GitHub code scanning
$ initpolicy lint examples/mlp.py --fix-policy fixed.pol   # a policy that resolves the findings
$ initpolicy rules                                         # every rule
$ initpolicy rule IP103                                    # one rule explained
```

```python
import initpolicy
result = initpolicy.lint(model)                  # or lint(model, policy=..., static=True)
for f in result.findings:
    print(f.code, f.name, f.target, f.measured, f.expected, f.fix)
result.layer_stats                               # per-layer activation std and gradient norm
result.to_json()                                 # {"findings": [...], "summary": {...}}
```

## Codes, severities, exit codes

Codes are stable and grouped by prefix: **IP1xx** static checks of the weights (as they
are, or as a policy makes them), **IP2xx** signal propagation from one forward and
backward pass (skipped with `--static`; the model comes back exactly as it was: module
modes, buffers such as BatchNorm's running statistics, `.grad`, the global RNG), **IP3xx**
checks of a policy against the model (only with `--policy`). Every finding has a code, a
kebab-case name, a severity (`error`, `warning`, `info`), the parameter or module, a
message, measured and expected numbers, a location (the policy's `file:line` when a
policy set the value; else the line of the model's own code that wrote the values, when
`initpolicy lint TARGET` built the model under the extractor's recorder and that line is
the user's code, not a library's (`nn.init.normal_(m.weight, std=1.0)` in a loop, not the
`nn.Sequential(...)` that built the layers); else the model source line where the module
is built, when the tracer finds it) and a fix written as a policy rule. From Python,
`initpolicy.lint(model, written=rec.user_sites(model))` with the model built under
`initpolicy.api.write_recorder()` does the same.

Exit codes: 0 when no finding reaches the fail level (default `warning`; `--fail-level`,
or `--exit-zero` to always exit 0), 1 when one does, 2 on a usage, load or plan error.

## Selecting rules and thresholds

`--select`, `--ignore` and `--extend-select` take codes, prefixes (`IP2`) or names
(`gain-mismatch`), comma-separated. As in ruff, the most specific match wins: `--select
IP1 --ignore IP105` drops IP105; `--ignore IP1 --extend-select IP103` keeps IP103. The same
keys live in the nearest `pyproject.toml` (the command line wins; `ignore` and
`extend-select` add up):

```toml
[tool.initpolicy.lint]
select = ["IP1", "IP2"]
ignore = ["IP108"]
extend-select = []
fail-level = "warning"
thresholds = { gain-tolerance = 0.2, drift = 20 }
```

or on the command line: `--threshold gain-tolerance=0.2`.

## Output formats

`--format text` (default: the findings, then one verdict line, so a clean model is one
line; `--table` adds the per-layer table of the dynamic pass, the same numbers
`--plot FILE.png` draws), `json` (the contract: `{"findings": [{"code", "name",
"severity", "target", "message", "measured", "expected", "location", "related"}],
"summary"}`, the fix at the end of `message`), `sarif` (SARIF 2.1.0 for code-scanning
upload; findings without a source line point at the model file), `github` (workflow
annotations `::warning file=...,line=...::message`). `--statistics` prints counts per
rule instead. `--fix-policy OUT.pol` writes a policy resolving the init findings
(selected or not); linting the model with it comes back clean of them.

In text, findings of one cause across layers (the same rule, message and fix scheme once
names and numbers are set aside: every weight of a model left at zero, every norm drawn
like a weight) fold into one block: the first finding, then `and N more of the same
cause:` with the other targets, and the fix once. JSON, SARIF and GitHub output keep
every finding.

A forward that raises is located: the error names the `file:line` of the innermost frame
in the user's own code. Where the model's own code raised, the input may be fine and no
input hint follows; where torch rejected what that line passed, the hint to give the
input shape does. A dynamic pass skipped for an error says where too.

On a terminal, progress is drawn on stderr while lint runs: the stage (loading, tracing,
applying the policy, the static and dynamic passes) with a bar where the work is
countable (tensors measured, layers run, blocks streamed), erased before the report.
Nothing is drawn where stderr is not a terminal (pipes, files, CI logs), and stdout is the
report alone in every format.

## One cause, one finding

When several checks describe one cause on one parameter, the most specific is reported
and the others are listed in its `related` field. The order, most specific first:
"""

_STRUCTURE = """\
## What a weight does, and where its scale matters

The rules read the tracer's graph facts (docs/tracing.md, "Graph facts"), not module names:

- **Which tensors have units.** constant-weight and duplicate-units judge only the weight
  operand of a feature-mixing op (linear, conv, matmul, einsum, embedding, recurrence),
  whose rows are units that start alike if their values do. A parameter that scales,
  shifts or indexes the signal elementwise (LayerScale, a norm's weight, NF-Net's gains,
  temperatures, Swin-V2's logit scale, zero-initialized relative-position tables, Mamba's
  `A_log`) has no interchangeable units: each entry gets its own gradient.
- **Where a weight's scale cannot matter.** A normalization that every path from the
  layer's output reaches through positively homogeneous ops (relu, leaky_relu and prelu,
  the catalog's `homogeneous` activations, not relu6, whose clip at 6 a larger scale
  reaches; linear layers, pooling, concatenation: `scale_invariant`; a norm right after the layer is the
  simplest case) makes the model's function independent of the weight's scale (without
  the graph's facts, the `modules` tracer's guess `normalized` stands in for it). A layer
  whose output reaches no model output is not judged, nor one fed only by constants (no
  path from a model input: ConViT's `pos_proj` over a table of patch offsets, a
  position-bias MLP): a band assumes an input that carries data at about unit variance,
  and such a layer computes a fixed pattern its init sets on purpose.
- **Where an activation belongs to the loss.** A sigmoid, softmax or log-softmax after
  which no parameterized layer follows on any path to the output is the link function of
  the log-loss that reads it (cross-entropy and BCE cancel its derivative): the layer
  before it is judged as an `output` layer (no band; its bias may be a prior, as the
  focal-loss bias -log(99) of torchvision's RetinaNet and FCOS), and saturated-at-init
  does not measure it. A final tanh stays judged: no loss cancels it. Policies still
  select such a layer with `before Sigmoid`: this is how the rules judge, not what the
  tracer resolves.
- **Where a too-small scale cannot compound.** A normalization that every path reaches
  before the output (`renormalized`) resets whatever scale the path has: a small weight
  there only moves activations into a more linear regime, or weighs one term of a sum
  against the other (as a residual branch's scale does). Such layers have no floor; their
  ceiling still applies (a weight large enough to saturate, or to drown the stream it is
  added to, is harmful without depth).
- **Where a too-small scale compounds.** Each layer multiplies the signal's variance by its
  own factor, so "too small" matters along a *chain*: layers linked output to input with no
  normalization, residual join or gate in between, each with a band. The band's floor
  (gain-mismatch below the band, torch-default-before-relu) applies on chains of
  `floor-depth` layers or more, range-too-narrow ("the signal vanishes with depth") on
  chains of `vanish-depth`. Not a link of a chain, and so never held to a floor: a layer
  of a residual branch (`x + f(x)`: small on purpose, as GPT-2, Fixup and SkipInit make it)
  or of a gate branch (`x * g(x)`: a squeeze-excitation gate starting near sigmoid(0)), a
  layer fed by constants only (a position-bias MLP), a renormalized layer, and the last
  layer before the output (it sets the output's scale, as an output layer does).
  gain-mismatch's ceiling applies where its floor does, and before a saturating activation
  (tanh, sigmoid, softmax: one layer saturates it); range-too-wide's ceiling, twice as far,
  applies to every judged layer: a weight that large saturates or explodes without depth.
- **Depth series.** variance-drift and gradient-ratio compare layers of one role (same
  type, same name up to indices) along one plain signal path: each must reach the next
  with no normalization and no residual join in between. The blocks of a normalized or
  residual network, parallel heads and different roles (a BatchNorm-followed conv against
  the classifier, q/k projections against an LM head) are not a depth series. The blocks of
  an *unnormalized* residual network are judged by residual-stream-drift instead: the
  stream's std where each branch reads it (`reads_stream`), first block to last.
- **Blocks of one tensor.** A tensor whose output is cut into blocks that feed different
  activations (a packed GLU projection, `a, g = W(x).chunk(2, -1)`: ModernBERT's `Wi`,
  Phi-3's `gate_up_proj`, an MoE's `gate_up_proj`; unequal cuts too: Mamba2's `in_proj`,
  `split([d_inner, conv_dim, heads], -1)` into z before silu, xBC before the conv and dt
  before softplus, `in_proj.weight[0:1536]` and so on) is `mixed` as a whole; the scale
  rules judge each block by the band of the activation it feeds (`mlp.Wi.weight[0:1152]`
  before gelu, `mlp.Wi.weight[1152:2304]` before the product, `linear`), with the block's
  rows as its fan_out. A tensor used apart from its module's others (an MoE experts
  module's `gate_up_proj` and `down_proj`) is judged by its own activation. MoE experts
  stored as 3-D tensors and run by `grouped_mm` have one expert's fans (docs/tracing.md).
- **Direct chains.** A layer whose output goes into another layer with nothing between
  (no activation, normalization, mixing op or sum with another signal; reshapes, cuts,
  casts and dropout pass: the tracer's `into`, docs/tracing.md) is one factor of a
  single linear map, and so is the next, up to the activation that ends the chain:
  Mamba2's xBC block of `in_proj` into the depthwise `conv1d` before SiLU, a factorized
  `b(a(x))`. The signal that activation sees has the product of the links' forward gains
  `std * sqrt(fan_in)`. A link is reported (gain-mismatch, range-too-wide,
  range-too-narrow, by its own band as before) only where the chain's product is out of
  the end activation's band too, on the same side: a large first factor that the next
  one compensates is no finding, and when the chain is out of band, the links off their
  own band are the ones named. A chain whose links are in different parts of a model
  linted part by part, or whose link is constant, is judged link by link.
- **A constant factor before the activation is gain.** In `sin(30 * linear(x))` or
  `relu(2 * fc(x))` the factor multiplies the pre-activation: the bands judge
  `std * factor * sqrt(fan)` (not where another signal is summed or multiplied in on the
  way: docs/tracing.md). A function the catalog does not know (`sin`, `exp`, `pow`)
  is the activation `unknown`: no band, nothing judged (the tracer's warning names it).
- **Embeddings.** An embedding has no fan-in sum for a band: a token embedding is judged
  against the terms it is summed with (embedding-drowned: position and token-type
  embeddings, constant factors such as an `embed_scale` counted).

## The dynamic pass's inputs

The forward and backward pass runs on the example the tracer used (given, or inferred),
widened to `batch` examples that stand for data, the same number for every input of the
call: images, video and spectrograms get smooth noise (upsampled from 1/8 resolution, with
a per-example offset and contrast, at the example's mean and std), since pooling averages
white noise away and a 2x2 average pool halves its std but not an image's; other floating
inputs get Gaussian noise; token ids are resampled in the example's range, keeping the
positions that hold one of the config's special tokens and never drawing one; masks and
other constant inputs are repeated. The batch is capped at about 2M values per input; a
call with an input whose first dimension is not a batch of one runs as given. The batch is
also sized by memory (`memory-budget`, a share of the memory available: the smaller of
the system's and the cgroup's, or the CUDA device's free memory; at most `--memory` where
it is given). Every run is metered (the bytes its tensors hold, forward and backward) and
stops itself after the op that takes it over the budget, so the budget is kept (to one
op's output) by construction, not by estimate: the pass runs on 2 examples first, then grows by doubling
while a line through the last two peaks says the next size fits; a run stopped on the way
(or an allocation failure) leaves the largest batch that ran. When even 2 examples with
backward do not fit, the forward runs alone, without an autograd graph: what grows with
depth is the graph kept for backward, and without it the forward holds one layer's
activations at a time. The per-layer statistics are all forward ones except the gradients,
so only the gradient checks (IP205, and IP204 on gradients) are lost, and `dynamic` says so
(`ran (forward only: ...)`); when the forward alone does not fit 2 examples either, the
pass is skipped and says why. The streamed pass (below) is no fallback here: it is a
forward alone too, and the weights it would load one part at a time are in memory already.
Shorter sequences are no remedy: the inferred inputs are a few tokens already (5 here),
and Mamba2's pure-torch scan pads every sequence to its 256-token chunk (5 and 8 tokens
hold the same). Measured on Mamba2-130m at its real size (hidden 768, 24 layers, state
128, untied head, 2 CPU cores): on 2 examples the forward keeps 2.5 GiB of autograd graph
for the backward (about 50 MiB per layer and example) and the whole pass holds 2.7 GiB,
against 0.5 GiB for the forward alone; the pass also keeps a copy of the weights (0.6 GiB,
restored if a forward writes them), counted in the budget. Peak RSS of `initpolicy lint`
(the built model alone is 1.4 GiB): `--memory 4G` ran 2 examples with backward, 5.4 GiB
in 55 s; `--memory 2G` stopped the backward run at 2 GiB and ran the forward alone on 3
examples (`ran (forward only: ...)`, `3 examples: input_ids (3, 5) ... (memory budget
2048 MiB given with --memory ...)`), 2.9 GiB in 37 to 55 s; `--memory 1.3G` stopped both
and skipped the pass, saying so, 2.9 GiB in 29 s, which is the peak of `--static` too (the
loader's write recorder); no finding in any run. (transformers' generic init draws
every Linear at `initializer_range` = 0.1: the block of each `in_proj` that goes into
the depthwise conv has gain 2.77 at width 768, over twice the linear band, but the conv's
0.58 after it brings SiLU's input to 1.6, which is what the dynamic pass measures: the
chain is judged, not its links; see "Direct chains" above.) Before, `--memory` did not reach the dynamic
pass and 2 examples with backward were its floor: the default budget (10 GiB of 20 GiB
available) ran 8 examples with backward in 95 s at 11.2 GiB, and no budget under the
floor's 3.4 GiB could be kept.
It runs in
training mode (dropout off); a model that cannot run in training mode without more than
its inputs (a detector asks for targets) runs in eval mode with its normalization layers
on batch statistics. The summary's `dynamic_inputs` says which, and what the batch was;
`dynamic` says `ran` or exactly why the pass was skipped (the forward's error).
"""

_SCALE = """\
## Models larger than memory

Lint judges an 8B or 70B model on a laptop: a **memory budget** decides how
(`summary.memory`): half of the memory available when lint starts (`MemAvailable`, capped
by the cgroup's limit), or `--memory SIZE` (`4G`, `512M`; `lint(..., memory=...)`). A model
whose tensors fit the budget whole (twice for its own init: values and gradients; three
times with a policy: the copy, its values kept while the probe runs, the gradients) is
linted as above. A bigger one, or a model on the meta device, is linted **part by part**
(`summary.streamed`); no parameter count decides anything.

- **Parts.** Each block of a repeated stack (a `ModuleList` or `Sequential` of two or more
  modules of one class: an LLM's decoder layers) is a part; so is each module outside a
  stack with its submodules (the embedding, the final norm, the head). One part is
  materialized at a time, with exactly the values a whole run gives it (a policy's streams
  are keyed by tensor name), and freed after.
- **Static pass, with a policy: analytic.** Every planned tensor is judged from its plan
  entry: the std (exact, from the scheme's moments and the fans), a uniform's bound, a
  constant's value, and no duplicate units for a random draw; a normal draw's extremes are
  its expected ones, `mean ± std·sqrt(2 ln n)` within the scheme's reach. Nothing is drawn.
  A tensor the plan does not describe (no rule: it keeps its value; `default`, `keep`,
  one block of a packed tensor, `eye`/`dirac`, recurrent layers) is measured on its module
  alone. The findings are those of the sampled pass (tests/test_lint_scale.py checks it on
  models small enough for both); `summary.streamed.static` says how many tensors each way.
  A real model is planned on the trace of its meta copy; where that copy cannot run its
  forward (a number read from a tensor's values: `.item()`, `.tolist()`) or its trace does
  not reach every layer (Qwen2-VL's vision tower reads its image grid's values), the model
  itself, in memory, is traced instead (one forward, no gradients), so the plan is the one a
  whole run makes. A model that is on meta itself has no values to trace with: on meta
  only the modules tracer runs, which takes each module as followed by the next one
  registered (a squeeze-excitation's `fc1` by `fc2`, the ReLU between missed). Where the
  model fits the budget twice over, it is traced once more with every part loaded (its
  own init, as below), then freed, and the graph's warnings say so ("traced with every
  part loaded"); where it does not fit, the modules tracer's graph stands, and the trace
  says which tracer ran. This holds with a policy and without one.
- **Static pass, the model's own init.** On a meta model without a policy, each part's
  tensors get the values a real build gives them when the part is loaded, and are
  measured and judged, then freed: the non-repeated parts and the sampled blocks (below).
  A model built under `initpolicy.on_meta()` (or loaded by `initpolicy lint TARGET` from
  a file that builds it on meta) has its construction recorded: every torch call on a
  meta tensor, in order, with its arguments (`summary.streamed.static` ends with how many
  tensors were replayed: `9 of 9 tensors replayed from the build's record`).
  Each tensor of a part replays the calls that made and wrote its storage (and, for a
  value it copies or computes from, that tensor as it was then): each module's
  `reset_parameters`, an init loop in the constructor (`for m in self.modules():
  normal_(m.weight, 0, 0.01)`, torchvision's VGG), a parameter drawn or computed there
  (`init_value * torch.ones(dim)`), `weight_norm`'s originals, and `_init_weights`, in
  the build's order (transformers skips `_init_weights` on meta: it runs after the replay,
  as `post_init` runs it last in a real build). The draws are seeded per tensor, so they are not a real build's
  draws (a `trunc_normal_` value on its clamp bound, IP120, can land elsewhere). A
  tensor the record does not cover (made before it; a call that fails on values) falls
  back to the methods below. A model built under a bare `torch.device("meta")` has no
  record: each module's `reset_parameters`, then the model's `_init_weights` over it,
  where it has one, applied children before parents, on the module and its ancestors
  (T5's attention writes its Linears). An init the constructor runs outside those
  methods is then not seen: those modules are judged by their `reset_parameters`. A
  parametrized module's `reset_parameters` writes the weight the parametrization
  computes; its originals are set from it through `right_inverse` (`weight_norm`: the
  norm and the weight), as after a real build.
- **Dynamic pass, streamed.** One forward pass, no backward (a backward needs every weight
  at once: IP205 does not run); each part is loaded just before its forward and freed right
  after. An embedding is loaded on the rows its ids read; a policy's output head on its
  first 4096 units (drawn exactly as the whole run draws them). The batch shrinks so one
  block's forward costs about 1.5e11 floating-point operations. **Repeated blocks are
  sampled**: six per stack, two at each end and evenly between (80 layers: 0, 1, 27, 52,
  78, 79); a block not sampled passes its input through, so the depth series rules see
  the sampled depths. `summary.dynamic` names the blocks that ran,
  `summary.streamed.blocks` lists them per stack. As the whole pass, it runs in training
  mode, else (a detector asks for targets) in eval mode with normalization on batch
  statistics. A container the parent indexes (`self.norm[i]`, called: a `ModuleList` has no
  forward) is no part: each of its modules is, loaded at its own call. Where a part's
  tensors are read outside its own forward (timm's EVA reads `self.rope.get_embed()`, a
  method; HRNet calls `down.forward(y)`, past the hooks; ConvBERT reads its embeddings'
  buffer of token types in the model's forward), a meta tensor reaches the forward (a
  loaded part called with a meta tensor, by position or keyword, stops the pass: torch
  would look a meta index up in a real table and return uninitialized values): the pass
  runs once more with the parts outside stacks loaded throughout, then
  with every part that runs, as far as the budget holds them, and `summary.dynamic` says
  which. The static rules' own calls of a loaded module (a norm's output scale, IP111)
  are not measured as the forward's. On the 260 zoo models under the bench's cap, under
  two policies, the streamed pass finds what the whole pass finds on the blocks it ran in
  517 of 520 runs: ConvBERT's 2 were the meta tensor above (fixed since), the other an
  output-scale finding (IP220) at its threshold, as the blocks not sampled change the
  output's scale (docs/benchmarks.md, "Agreement on the zoo").
- **Never an out-of-memory kill.** Peak memory is the largest part (as loaded), the
  activations and the process. If the largest part does not fit the budget, the dynamic
  pass is skipped and `summary.dynamic` says so (raise the budget with `--memory`); a
  real model too large for its own dynamic pass is linted statically, saying the same.

Measured on Llama-architecture 1B, 8B and 70B configs: docs/benchmarks.md, "lint at
scale" (`python bench/bench_lint_scale.py`).
"""

_FP = """\
## False positives on well-initialized architectures

Measured on the zoo (docs/zoo.md, tests/test_lint_zoo.py): 191 torchvision and timm models
and 74 transformers architectures, each linted as its library initializes it, every
finding in a golden file with the reason it is right. tests/test_lint_archs.py keeps three
small well-initialized architectures at zero findings (warning level and above):

| architecture | init | parameters linted | findings |
|---|---|---|---|
| ResNet-18 layout (width 16) | torchvision's: kaiming_normal(fan_out) convs + BatchNorm(1, 0) | 62 | 0 |
| pre-norm transformer (6 layers, d 256, GELU) | N(0, 0.02), residual projections N(0, 0.02/sqrt(2·6)) | 76 | 0 |
| GPT-2 (transformers, 4 layers, d 128) | its own `_init_weights` | 52 | 0 |

Info-level findings (IP108, IP110, IP111, IP302) are advice. Recall is measured by seeding
the classic bugs into zoo models (bench/bench_seeded.py, docs/benchmarks.md). Known
limits: the dynamic pass of very deep plain ReLU nets (50+ layers, no normalization or
residuals) reports dead-at-init even under He init, because the batch's representations
correlate with depth.
"""


def _bands_table() -> str:
    rows = [
        "| activation | accepted effective gain std·sqrt(fan) | fix scheme | source |",
        "|---|---|---|---|",
    ]
    for act, (lo_end, _, _, _) in BANDS.items():
        b = band(act)
        assert b is not None
        lo = "sqrt(2/(1+slope²))" if lo_end == "leaky" else f"{b.lo:.4g}"
        rng = lo if b.lo == b.hi else f"{lo} – {b.hi:.4g}"
        rows.append(f"| {act} | {rng} | `{b.fix}` | {b.source} |")
    rows.append("| output, mixed | no band (no gain to match) | | |")
    return "\n".join(rows)


def explain(rule: type[LintRule]) -> str:
    """What ``initpolicy rule CODE`` prints.

    >>> from initpolicy.linter.registry import get_rule
    >>> print(explain(get_rule("IP109")).splitlines()[0])
    IP109 large-bias (warning, static)
    """
    r = rule
    out = [f"{r.code} {r.name} ({r.severity}, {r.kind})", r.summary, ""]
    for title, body in r.sections().items():
        if not body:
            continue
        if title in ("Anti-pattern", "Fix"):
            out += [f"{title}:", textwrap.indent(textwrap.dedent(body), "    "), ""]
        else:
            out += [f"{title}:", textwrap.fill(" ".join(body.split()), 88), ""]
    if r.uses:
        out.append("Thresholds:")
        out += [f"    {n} = {THRESHOLDS[n][0]:g}  ({THRESHOLDS[n][1]})" for n in r.uses]
    return "\n".join(out).rstrip() + "\n"


def markdown() -> str:
    """The whole of docs/lint.md.

    >>> "| relu | 1.414 | `kaiming_normal(fan_in)` | He et al. 2015 |" in markdown()
    True
    """
    rules = all_rules()
    out = [_INTRO]
    out += [f"{i}. `{name}`" for i, name in enumerate(FOLD_ORDER, 1)]
    out += [
        "",
        "## Rules",
        "",
        "| code | name | severity | kind | summary |",
        "|---|---|---|---|---|",
    ]
    out += [
        f"| [{r.code}](#{r.code.lower()}-{r.name}) | {r.name} | {r.severity} | {r.kind} | {r.summary} |"
        for r in rules
    ]
    out += ["", "## Thresholds", "", "| name | default | meaning |", "|---|---|---|"]
    out += [f"| `{k}` | {v:g} | {doc} |" for k, (v, doc) in THRESHOLDS.items()]
    out += ["", "## Gain bands (IP103, IP104, IP105)", "", _bands_table(), "", _STRUCTURE]
    out += [_SCALE]
    for r in rules:
        out += [f"### {r.code} {r.name}", "", f"*{r.severity}, {r.kind}* — {r.summary}", ""]
        for title, body in r.sections().items():
            if not body:
                continue
            if title in ("Anti-pattern", "Fix"):
                out += [f"**{title}**", "", "```", textwrap.dedent(body), "```", ""]
            else:
                out += [f"**{title}.** " + " ".join(body.split()), ""]
        if r.uses:
            out += [
                "**Thresholds:** " + ", ".join(f"`{n}` = {THRESHOLDS[n][0]:g}" for n in r.uses),
                "",
            ]
        path = f"{CASES_DIR}/{r.code}.toml"
        out += [f"**Test cases:** passing and failing examples in [{path}](../{path}).", ""]
    out.append(_FP)
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(markdown(), end="")
