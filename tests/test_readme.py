"""Every command and Python snippet in README.md and docs/*.md works as written, at a tiny size.

The documents' code blocks are read from the files themselves: shell blocks (plain or ``sh``) line by
line, ``python`` blocks whole. Each block runs in a fresh folder that holds stand-ins for the
reader's own files (``photo.jpg``, ``painting.jpg``, ``holiday/``, ``~/Pictures``: copies of
bundled pictures). ``painterly`` lines run in this process through click's test runner, with
options appended or replaced so that each does a few steps at 32 px (the last value of an
option wins); everything else about the line is kept: names, files, flags, the order of the
lines within a block. ``NAME="..."`` lines set variables for the lines after them, and
``$(painterly ...)`` runs that command first. A ``$ command`` line followed by output must
print exactly that output. Python blocks run with ``painterly.stylize`` and
``painterly.fast_stylize`` held to the same tiny sizes.

Only lines that cannot run here are skipped, each for a stated reason (``SKIPPED``).
"""

from __future__ import annotations

import dataclasses
import re
import shlex
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import painterly
from painterly import cli
from painterly.examples import example_path

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SKIPPED = {  # a pattern searched for in the line -> why the line is not run here
    r"^make ": "builds a virtual environment; the test suite already runs inside one",
    r"^python benchmarks/": "benchmarks take minutes; tests/test_benchmarks.py covers them",
    r"^(python -m venv|pip install|\. \.venv/bin/activate)": "installation, done before tests",
    r"^painterly train .* --resume": "continues a run after Ctrl-C; tests/test_fast.py resumes",
    r"^ray |--ray ": "needs a running Ray cluster; tests/test_batch_ray.py starts one",
}
# Stand-ins for the reader's own files: name -> bundled pictures copied there.
STAND_INS = {
    "photo.jpg": ["coffee"], "painting.jpg": ["great_wave"], "monet.jpg": ["cliff_walk_pourville"],
    "klimt.jpg": ["woman_with_a_hat"], "holiday": ["coffee", "astronaut"],
    "home/Pictures": ["coffee", "astronaut", "chelsea_cat"],
}
# Options replaced by tiny ones (their values are dropped), and what each command gets instead.
DROPPED = {"--size", "--scales", "--iterations", "--iterations-per-scale", "--steps"}
TINY_STYLIZE = ["--size", "32", "--scales", "1", "--iterations", "2"]
TINY = {
    "stylize": TINY_STYLIZE, "demo": ["--size", "32", "--iterations", "2"],
    "fast": ["--size", "32"], "export": [], "batch": ["--size", "32"],
    "train": ["--steps", "1", "--batch-size", "1", "--crop-size", "32", "--style-size", "32"],
    "explore figures": ["--quick"], "explore activations": ["--size", "32"],
    "explore neurons": ["--size", "32", "--steps", "2"],
    "explore reconstruct": ["--size", "32", "--steps", "2"],
    "explore style": ["--size", "32", "--steps", "2"],
    "explore tradeoff": ["--size", "32", "--steps", "2", "--style-weights", "10"],
}
# Blocks with such a line are marked slow (they still run by default; -m "not slow" skips them).
SLOW = {
    r"^painterly explore figures": "every figure, even with --quick: about 10 s on a 2-core CPU",
}
QUIET = {"stylize", "demo", "fast", "train", "export"}


@dataclasses.dataclass
class Block:
    document: str      # README.md or docs/NAME.md
    line: int          # where the block starts in it
    language: str      # "python", or "" / "sh" for shell
    text: str

    @property
    def id(self) -> str:
        return f"{self.document}:{self.line}"


def readme_blocks() -> list[Block]:
    blocks = []
    for path in DOCUMENTS:
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"^```(\w*)\n(.*?)^```$", text, flags=re.S | re.M):
            line = text.count("\n", 0, match.start()) + 1
            blocks.append(Block(path.relative_to(ROOT).as_posix(), line, match[1], match[2]))
    return blocks


BLOCKS = readme_blocks()
SHELL = [b for b in BLOCKS if b.language in ("", "sh")]
PYTHON = [b for b in BLOCKS if b.language == "python"]


def shell_lines(text: str) -> list[str]:
    """Lines with backslash continuations joined; blank lines and comment lines dropped."""
    joined = re.sub(r"\\\n\s*", " ", text)
    return [line.strip() for line in joined.splitlines()
            if line.strip() and not line.strip().startswith("#")]


def tiny(args: list[str]) -> list[str]:
    """``args`` with size and step options replaced by tiny ones for the command they name."""
    kept, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in DROPPED:
            skip = True
        else:
            kept.append(arg)
    command = " ".join(args[:2]) if args[0] == "explore" else args[0]
    if command == "studio":  # it serves until stopped: check that its options parse
        return kept + ["--help"]
    return kept + TINY.get(command, []) + (["--quiet"] if command in QUIET else [])


@pytest.fixture
def sandbox(tmp_path, monkeypatch) -> Path:
    """A working folder with stand-ins for the reader's files; HOME and user folders in it."""
    for name, pictures in STAND_INS.items():
        if name.endswith(".jpg"):
            shutil.copyfile(example_path(pictures[0]), tmp_path / name)
            continue
        folder = tmp_path / name
        folder.mkdir(parents=True)
        for picture in pictures:
            source = example_path(picture)
            shutil.copyfile(source, folder / source.name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "home" / "data"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def painterly_cli(args: list[str]):
    return CliRunner().invoke(cli.cli, args, prog_name="painterly")


def expand(line: str, variables: dict[str, str], home: Path) -> str:
    """$(painterly ...), $NAME and ~/ as a shell would expand them here."""
    def substitute(match: re.Match) -> str:
        result = painterly_cli(shlex.split(match[1])[1:])
        assert result.exit_code == 0, (match[0], result.stderr)
        return result.stdout.strip()

    line = re.sub(r"\$\((painterly [^)]*)\)", substitute, line)
    line = re.sub(r"\$(\w+)", lambda m: variables[m[1]], line)
    return re.sub(r"(^|\s)~/", lambda m: f"{m[1]}{home}/", line)


def shell_params() -> list:
    params = []
    for block in SHELL:
        slow = any(re.search(pattern, line) for line in shell_lines(block.text) for pattern in SLOW)
        params.append(pytest.param(block, id=block.id, marks=[pytest.mark.slow] if slow else []))
    return params


@pytest.mark.parametrize("block", shell_params())
def test_shell_block(block: Block, sandbox: Path):
    variables: dict[str, str] = {}
    lines = shell_lines(block.text)
    while lines:
        line = lines.pop(0)
        if any(re.search(pattern, line) for pattern in SKIPPED):
            continue
        assignment = re.fullmatch(r"(\w+)=(.*)", line)
        if assignment:
            variables[assignment[1]] = shlex.split(assignment[2])[0]
            continue
        transcript = line.startswith("$ ")
        expected = []
        if transcript:  # the output shown below the command, exactly, and its exit code
            line = line[2:]
            while lines and not lines[0].startswith("$ "):
                expected.append(lines.pop(0))
        words = shlex.split(expand(line, variables, sandbox / "home"), comments=True)
        assert words[0] == "painterly", f"{block.id}: cannot run {line!r} here"
        result = painterly_cli(words[1:] if transcript else tiny(words[1:]))
        where = f"{block.id}: {line}"
        if transcript:
            printed = (result.stdout + result.stderr).strip().splitlines()
            assert printed == expected, where
        else:
            assert result.exit_code == 0, (where, result.stderr, result.exception)


@pytest.fixture
def tiny_library(monkeypatch):
    """painterly.stylize and painterly.fast_stylize at 32 px and a couple of steps."""
    stylize, fast_stylize = painterly.stylize, painterly.fast_stylize

    def small_stylize(content, style, config=None, **kwargs):
        config = dataclasses.replace(config or painterly.StyleConfig(), size=32, scales=1,
                                     iterations=2)
        return stylize(content, style, config, **kwargs)

    def small_fast_stylize(content, style, **kwargs):
        return fast_stylize(content, style, **{**kwargs, "size": 32})

    monkeypatch.setattr(painterly, "stylize", small_stylize)
    monkeypatch.setattr(painterly, "fast_stylize", small_fast_stylize)


@pytest.mark.parametrize("block", PYTHON, ids=[b.id for b in PYTHON])
def test_python_block(block: Block, sandbox: Path, tiny_library, capsys):
    exec(compile(block.text, block.id, "exec"), {"__name__": "readme"})  # noqa: S102


def test_the_readme_has_blocks_of_each_kind():
    assert len(SHELL) >= 10 and len(PYTHON) >= 4
