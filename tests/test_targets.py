"""TARGET loading: every form, every error message."""

from __future__ import annotations

import re
import sys
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


# -- what importing a target changes is undone ---------------------------------------------

NEIGHBOUR_NET = """
import torch.nn as nn
import colorsys  # a module found on the old path: it stays loaded
from layers import WIDTH

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, WIDTH)

    def forward(self, x):
        import late  # a neighbour imported only when the model runs
        return self.fc(x) * late.SCALE
"""


def _project(root: Path, width: int) -> Path:
    write(root, f"WIDTH = {width}\n", "layers.py")
    write(root, "SCALE = 1.0\n", "late.py")
    return write(root, NEIGHBOUR_NET)


def _loaded_from(folder: Path) -> list[str]:
    return sorted(
        name
        for name, m in list(sys.modules.items())
        if str(getattr(m, "__file__", None) or "").startswith(str(folder))
    )


def test_restore_undoes_sys_path_and_the_modules_the_target_brought(tmp_path: Path) -> None:
    path_before = list(sys.path)
    loaded = load_target(str(_project(tmp_path, 5)))
    assert str(tmp_path.resolve()) in sys.path and "layers" in _loaded_from(tmp_path)
    loaded.model(torch.zeros(1, 3))  # the forward's late import still finds its neighbour
    assert {"layers", "late"} <= set(_loaded_from(tmp_path))
    loaded.restore()
    assert sys.path == path_before
    assert _loaded_from(tmp_path) == []
    assert "colorsys" in sys.modules  # found on the path as it was: not the target's
    assert loaded.model.fc.out_features == 5  # the model built stays usable


def test_two_targets_with_same_named_neighbours_each_get_their_own(tmp_path: Path) -> None:
    first = load_target(str(_project(tmp_path / "a", 5)))
    first.restore()
    second = load_target(str(_project(tmp_path / "b", 7)))
    second.restore()
    assert (first.model.fc.out_features, second.model.fc.out_features) == (5, 7)


def test_a_target_that_fails_to_load_leaves_nothing_behind(tmp_path: Path) -> None:
    path_before = list(sys.path)
    write(tmp_path, "WIDTH = 1\n", "layers.py")
    bad = write(tmp_path, "import layers\nraise ValueError('broken')\n")
    with pytest.raises(TargetError, match="broken"):
        load_target(str(bad))
    assert sys.path == path_before
    assert _loaded_from(tmp_path) == []


def test_a_package_module_target_found_through_the_working_directory_is_forgotten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "", "proj/__init__.py")
    write(tmp_path, NET, "proj/model.py")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    path_before = list(sys.path)
    loaded = load_target("proj.model:Net")
    assert "proj.model" in sys.modules
    loaded.restore()
    assert sys.path == path_before
    assert "proj" not in sys.modules and "proj.model" not in sys.modules


def test_the_cli_undoes_the_import_when_the_command_ends(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from initpolicy.cli.main import cli

    path_before = list(sys.path)
    for folder, width in (("a", 5), ("b", 7)):
        result = CliRunner().invoke(cli, ["trace", str(_project(tmp_path / folder, width))])
        assert result.exit_code == 0, result.output
        assert re.search(rf"\bfc +Linear +\w+ +3 +{width}\n", result.output), result.output
        assert sys.path == path_before
        assert _loaded_from(tmp_path) == []
