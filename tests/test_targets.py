"""TARGET loading: every form, every error message."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import torch

from initpolicy.cli.targets import load_target
from initpolicy.errors import TargetError

NET = """
import torch.nn as nn

class Net(nn.Module):
    def __init__(self, width=4):
        super().__init__()
        self.fc = nn.Linear(3, width)

    def forward(self, x):
        return self.fc(x)
"""


def write(tmp_path: Path, text: str, name: str = "model.py") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.parametrize(
    "extra, chosen_width",
    [
        ("model = Net(5)\ndef build_model():\n    return Net(6)\n", 5),
        ("def build_model():\n    return Net(6)\n", 6),
        ("def create_model():\n    return Net(7)\n", 7),
        ("def get_model():\n    return Net(8)\n", 8),
        ("", 4),
    ],
)
def test_file_discovery_order(tmp_path: Path, extra: str, chosen_width: int) -> None:
    path = write(tmp_path, NET + extra)
    loaded = load_target(str(path))
    assert loaded.model.fc.out_features == chosen_width
    assert (loaded.name, loaded.path, loaded.example_inputs) == (str(path), path, None)


@pytest.mark.parametrize(
    "suffix, width",
    [(":Net", 4), (":model", 9), (":factory", 3)],
)
def test_file_with_name(tmp_path: Path, suffix: str, width: int) -> None:
    path = write(tmp_path, NET + "model = Net(9)\ndef factory():\n    return Net(3)\n")
    assert load_target(str(path) + suffix).model.fc.out_features == width


def test_package_module_name() -> None:
    loaded = load_target("torch.nn:Identity")
    assert isinstance(loaded.model, torch.nn.Identity)
    assert loaded.path is None


def test_corpus_module_target() -> None:
    assert type(load_target("tests.models.corpus:SwiGLU").model).__name__ == "SwiGLU"


def test_example_inputs_from_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path, NET + "import torch\ndef example_inputs():\n    return torch.ones(2, 3)\n"
    )
    loaded = load_target(str(path))
    assert loaded.example_inputs.shape == (2, 3)


def test_example_inputs_from_shapes(tmp_path: Path) -> None:
    path = write(tmp_path, NET)
    loaded = load_target(str(path), input_shape=[(2, 3), (2, 5)], input_dtype=["float", "long"])
    assert [(tuple(t.shape), t.dtype) for t in loaded.example_inputs] == [
        ((2, 3), torch.float32),
        ((2, 5), torch.int64),
    ]


def test_file_example_inputs_win_over_shapes(tmp_path: Path) -> None:
    path = write(
        tmp_path, NET + "import torch\ndef example_inputs():\n    return torch.ones(2, 3)\n"
    )
    loaded = load_target(str(path), input_shape=[(1, 3)])
    assert loaded.example_inputs.shape == (2, 3)
    assert loaded.notes == [f"{path} defines example_inputs(); --input-shape is not used"]


def test_no_target_reads_no_pyproject(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # [tool.initpolicy] model reaches TARGET through the CLI's default_map (test_cli_config),
    # never through the loader: with no TARGET it only explains what was missing.
    write(tmp_path, NET, "model.py")
    (tmp_path / "pyproject.toml").write_text('[tool.initpolicy]\nmodel = "model.py"\n')
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TargetError, match=r"^no TARGET given"):
        load_target(None)


# -- errors -------------------------------------------------------------------------------


def error(spec: str | None, tmp_path: Path, **kw: object) -> str:
    with pytest.raises(TargetError) as err:
        load_target(spec, **kw)  # type: ignore[arg-type]
    return str(err.value)


def test_no_target_and_no_pyproject(tmp_path: Path) -> None:
    assert error(None, tmp_path).startswith(
        "no TARGET given, and no pyproject.toml with [tool.initpolicy] model = ... at or above"
    )


def test_file_not_found(tmp_path: Path) -> None:
    assert error(str(tmp_path / "nope.py"), tmp_path) == f"{tmp_path / 'nope.py'}: file not found"


def test_file_raising_on_import_shows_the_users_error(tmp_path: Path) -> None:
    path = write(tmp_path, "import torch\n\nx = 1 / 0\n")
    assert error(str(path), tmp_path) == (
        f"{path}: raised an error on import: ZeroDivisionError: division by zero\n  at {path}:3"
    )


def test_syntax_error_in_file(tmp_path: Path) -> None:
    path = write(tmp_path, "def broken(:\n    pass\n")
    message = error(str(path), tmp_path)
    assert message.startswith(f"{path}: raised an error on import: SyntaxError: ")
    assert message.endswith(f"at {path}:1")


def test_no_model_in_file(tmp_path: Path) -> None:
    path = write(tmp_path, "x = 1\n")
    assert error(str(path), tmp_path) == (
        f"{path}: no model found: define a module-level `model`, a factory "
        "build_model()/create_model()/get_model(), or an nn.Module subclass"
    )


def test_several_candidates_are_listed(tmp_path: Path) -> None:
    path = write(tmp_path, NET + "class Other(nn.Module):\n    pass\n")
    assert error(str(path), tmp_path) == (
        f"{path}: several nn.Module classes could be the model: Net, Other\n"
        "  hint: name it explicitly, e.g. model.py:Other or model.py:build_model"
    )


def test_classes_that_all_need_arguments(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "import torch.nn as nn\nclass Net(nn.Module):\n    def __init__(self, n, m=1):\n        super().__init__()\n",
    )
    assert error(str(path), tmp_path) == (
        f"{path}: no model found: every nn.Module class needs arguments: Net(n)\n"
        "  hint: add def build_model(): return Net(...)"
    )


def test_factory_needing_arguments(tmp_path: Path) -> None:
    path = write(tmp_path, NET + "def build_model(depth):\n    return Net(depth)\n")
    assert error(str(path), tmp_path) == (
        f"{path}: factory build_model needs arguments (depth); TARGET must build the model "
        "without arguments\n  hint: add a factory, e.g. def build_model(): return "
        f"build_model(...), and use {path}:build_model"
    )


def test_class_needing_arguments_by_name(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "import torch.nn as nn\nclass Net(nn.Module):\n    def __init__(self, n):\n        super().__init__()\n",
    )
    assert error(f"{path}:Net", tmp_path).startswith(f"{path}: class Net needs arguments (n)")


def test_missing_name_lists_what_is_there(tmp_path: Path) -> None:
    path = write(tmp_path, NET + "def build_model():\n    return Net()\n")
    assert error(f"{path}:Nett", tmp_path) == (
        f"{path}: no 'Nett' in this file; found: Net, build_model"
    )


def test_factory_raising(tmp_path: Path) -> None:
    path = write(tmp_path, NET + "def build_model():\n    raise ValueError('bad width')\n")
    assert error(str(path), tmp_path) == (
        f"{path}: build_model() raised: ValueError: bad width\n  at {path}:12"
    )


def test_factory_returning_something_else(tmp_path: Path) -> None:
    path = write(tmp_path, "def build_model():\n    return 3\n")
    assert error(str(path), tmp_path) == f"{path}: build_model() returned a int, not an nn.Module"


def test_unknown_module(tmp_path: Path) -> None:
    message = error("no_such_pkg.models:Net", tmp_path)
    assert message.startswith("no_such_pkg.models: not a file and not an importable module")


def test_dtype_without_shape(tmp_path: Path) -> None:
    path = write(tmp_path, NET)
    assert error(str(path), tmp_path, input_dtype=["long"]) == (
        "--input-dtype needs --input-shape (the shape of each input)"
    )


def test_the_model_is_built_reproducibly_without_touching_the_callers_rng(tmp_path: Path) -> None:
    f = tmp_path / "m.py"
    f.write_text("import torch.nn as nn\nmodel = nn.Linear(8, 8)\n")
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    first = load_target(str(f)).model.weight.detach().clone()
    assert torch.equal(torch.rand(3), expected_next)  # the caller's RNG stream is unchanged
    (tmp_path / "m2.py").write_text(f.read_text())
    second = load_target(str(tmp_path / "m2.py")).model.weight
    assert torch.equal(first, second)
