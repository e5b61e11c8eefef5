"""The curated public API, the documentation, and the errors' contract."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer

import pmmlkit
from pmmlkit import errors
from pmmlkit.cli import app

DOCS = Path(__file__).parents[1] / "docs"


def test_public_names_are_exported():
    for name in pmmlkit.__all__:
        assert hasattr(pmmlkit, name), name
    for name in ("load", "Model", "InvalidInputError", "ModelLoadError", "VerificationError"):
        assert name in pmmlkit.__all__


def _commands(group: typer.Typer, prefix: str = "") -> list[tuple[str, object]]:
    found = []
    for info in group.registered_commands:
        name = info.name or info.callback.__name__.replace("_", "-")
        found.append((prefix + name, info.callback))
    for sub in group.registered_groups:
        found.extend(_commands(sub.typer_instance, prefix + sub.name + " "))
    return found


@pytest.mark.parametrize(("name", "callback"), _commands(app))
def test_every_command_has_help_and_is_documented(name, callback):
    assert callback.__doc__ and callback.__doc__.strip(), f"{name} has no help text"
    reference = (DOCS / "cli.md").read_text()
    assert re.search(rf"^## `pmmlkit {re.escape(name)}`", reference, re.M), \
        f"`pmmlkit {name}` is not documented in docs/cli.md"


def test_every_error_is_documented():
    text = (DOCS / "errors.md").read_text()
    for name in dir(errors):
        obj = getattr(errors, name)
        if isinstance(obj, type) and issubclass(obj, errors.PmmlkitError):
            assert f"`{name}`" in text, f"{name} missing from docs/errors.md"
            row = next(line for line in text.splitlines() if line.startswith(f"| `{name}` |"))
            cells = [c.strip() for c in row.strip("|").split("|")]
            assert (int(cells[1]), int(cells[2])) == (obj.exit_code, obj.http_status), name


def test_docs_exist_and_their_links_resolve():
    import re

    for page in ("quickstart.md", "cli.md", "python-api.md", "errors.md", "performance.md"):
        assert (DOCS / page).is_file(), page
    for page in DOCS.glob("*.md"):
        for target in re.findall(r"\]\(([^)#:]+\.md)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).is_file(), f"{page.name} links to missing {target}"


def test_error_serialises_with_field_value_reason():
    exc = pmmlkit.InvalidInputError("bad", field="x0", value=float("inf"), reason="too big")
    assert exc.to_dict() == {"error": "InvalidInputError", "message": "bad", "field": "x0",
                             "value": float("inf"), "reason": "too big",
                             "problems": [{"field": "x0", "value": float("inf"),
                                           "reason": "too big"}]}
    assert exc.http_status == 400 and exc.exit_code == 6


def test_import_and_help_load_neither_pandas_nor_the_jvm():
    import subprocess
    import sys

    code = ("import sys, pmmlkit, pmmlkit.cli; heavy = {'pandas', 'pyarrow', 'numpy', 'jpype'} "
            "& set(sys.modules); print(sorted(heavy))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=120)
    assert proc.stdout.strip() == "[]"
    assert pmmlkit.Repository.__name__ == "Repository"  # lazily imported on first use


def test_cli_reference_is_generated_from_the_app():
    """docs/cli.md's option tables equal the Typer app's parameters (`make docs` rewrites
    them), so every command and option is documented with its current help."""
    from pmmlkit.cli._docs import commands, main

    assert main([str(DOCS / "cli.md"), "--check"]) == 0, "run `make docs`"
    text = (DOCS / "cli.md").read_text()
    for name, command in commands(app).items():
        assert f"<!-- options: {name} -->" in text, name
        for param in command.params:
            for option in getattr(param, "opts", []):
                if option.startswith("-") and option != "--help":
                    assert f"`{option}`" in text, (name, option)


def test_help_and_the_cli_reference_say_the_same():
    """Every command's --help usage line is the reference's; no placeholder metavars, no
    short help cut with '...', the backend choices listed, the file types named."""
    from typer.testing import CliRunner

    from pmmlkit.cli._docs import commands

    runner = CliRunner()
    text = (DOCS / "cli.md").read_text()
    for name in commands(app):
        shown = runner.invoke(app, [*name.split()[1:], "--help"]).stdout
        usage = shown.strip().splitlines()[0]
        assert f"{usage}\n" in text, (name, usage)
        assert "<str>" not in shown and "<int" not in shown and "<float" not in shown, name
    top = runner.invoke(app, ["--help"]).stdout
    assert "..." not in top.split("Commands:")[1]
    score_help = runner.invoke(app, ["score", "--help"]).stdout
    assert "auto|jpmml|pypmml" in score_help and ".tsv" in score_help and ".txt" in score_help
    serve_help = runner.invoke(app, ["serve", "--help"]).stdout
    assert serve_help.count("PMMLKIT_API_KEY") == 1
