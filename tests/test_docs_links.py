"""The docs name only files that exist: every repository path and every relative link in
README.md and docs/*.md resolves in this checkout (a renamed module or a doc that was never
committed shows up here, not in a reader's 404)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
#: A path into the repository, as the docs write one in backticks or prose.
REPO_PATH = re.compile(
    r"(?<![\w./-])(?:initpolicy|tests|bench|examples|docs|policies|grammar|\.ci)/[\w./-]*\w"
)
#: A markdown link to a file (not a web address or an anchor of the same page).
LINK = re.compile(r"\]\((?!https?://|#|mailto:)(?P<target>[^)#\s]+)(?:#[^)]*)?\)")
#: A bare name of a top-level document (README.md, CHANGELOG.md, PRODUCT.md ...).
TOP_DOC = re.compile(r"(?<![\w./-])[A-Z][A-Z_]+\.md\b")


#: A block of Python code: its paths are the user's repository's, not this one's.
PYTHON_BLOCK = re.compile(r"```python\n.*?```", re.S)
#: Paths the docs show commands writing: outputs, not repository files.
OUTPUTS = ("out/", "examples/training_repo/init.pt")


def _named(doc: Path) -> list[tuple[str, Path]]:
    text = doc.read_text(encoding="utf-8")
    prose = PYTHON_BLOCK.sub("", text)
    found = [(m.group(0), ROOT / m.group(0)) for m in REPO_PATH.finditer(prose)]
    found += [(m.group("target"), doc.parent / m.group("target")) for m in LINK.finditer(text)]
    found += [(m.group(0), ROOT / m.group(0)) for m in TOP_DOC.finditer(text)]
    return found


CASES = [
    (doc, name, path)
    for doc in DOCS
    if doc.exists()
    for name, path in _named(doc)
    if not name.startswith(OUTPUTS)
]


def test_the_docs_name_files() -> None:
    assert len(CASES) > 100


@pytest.mark.parametrize(("doc", "name", "path"), CASES, ids=[f"{d.name}:{n}" for d, n, _ in CASES])
def test_a_file_the_docs_name_exists(doc: Path, name: str, path: Path) -> None:
    assert path.exists() or path.with_suffix("").exists() or Path(str(path).rstrip(".")).exists(), (
        f"{doc.name} names {name}, which is not in the repository"
    )


def test_the_pre_commit_example_names_a_release_in_the_changelog() -> None:
    releases = re.findall(r"^## (\d+\.\d+\.\d+) ", (ROOT / "CHANGELOG.md").read_text(), re.M)
    named = {
        m.group(1)
        for path in (ROOT / "docs" / "integrations.md", ROOT / ".pre-commit-hooks.yaml")
        for m in re.finditer(r"rev: v(\S+)", path.read_text(encoding="utf-8"))
    }
    assert releases, "CHANGELOG.md has no release"
    assert named == {releases[0]}, (
        f"pre-commit examples name {named}, the newest release is {releases[0]}"
    )
