"""Keep docs/cli.md's option tables equal to the Typer app (sqlite-utils' cog approach).

``python -m pmmlkit.cli._docs docs/cli.md`` rewrites, under each ``## `pmmlkit CMD``` section,
the block between ``<!-- options: pmmlkit CMD -->`` and ``<!-- /options -->`` (inserted after
the section's synopsis the first time) from the command's own parameters and help texts.
``--check`` exits 1 when the file is not up to date; the test suite runs it.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import typer

_BLOCK = re.compile(r"<!-- options: (?P<name>pmmlkit[^>]*?) -->\n.*?<!-- /options -->\n",
                    re.S)


def _block(name: str, command: Any) -> str:
    return (f"<!-- options: {name} -->\n```\n{usage(name, command)}\n```\n\n{table(command)}"
            "\n<!-- /options -->\n")


def usage(name: str, command: Any) -> str:
    """The command's usage line, as its ``--help`` prints it."""
    import typer

    context = typer.main.get_command(_app()).make_context(
        "pmmlkit", ["--help"], resilient_parsing=True)
    for part in name.split()[1:]:
        group = context.command
        sub = group.get_command(context, part)  # type: ignore[attr-defined]
        context = sub.make_context(part, ["--help"], parent=context, resilient_parsing=True)
    return f"Usage: {' '.join(str(p) for p in command.collect_usage_pieces(context))}" \
        .replace("Usage: ", f"Usage: {name} ", 1)


def _app() -> Any:
    from pmmlkit.cli import app

    return app


def commands(app: typer.Typer) -> dict[str, Any]:
    """Every leaf command of the app by its full name (``pmmlkit export sklearn``), as the
    click command Typer builds (Typer vendors its own click: duck-typed here)."""
    found: dict[str, Any] = {}

    def walk(command: Any, name: str) -> None:
        if hasattr(command, "commands"):
            for sub_name, sub in command.commands.items():
                walk(sub, f"{name} {sub_name}")
        else:
            found[name] = command

    walk(typer.main.get_command(app), "pmmlkit")
    return found


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def table(command: Any) -> str:
    """The Markdown table of a command's arguments and options."""
    rows = ["| argument / option | help | default |", "|---|---|---|"]
    for param in command.params:
        if param.param_type_name == "argument":
            name = f"`{(param.metavar or param.name).upper()}`"
            help_text = getattr(param, "help", None) or ""
            default = "" if param.required else _default(param)
        else:
            if param.hidden or "--help" in param.opts:
                continue
            name = ", ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts])
            if not param.is_flag and param.metavar:
                name += f" `{_cell(param.metavar)}`"
            help_text = getattr(param, "help", None) or ""
            default = "required" if param.required else _default(param)
        rows.append(f"| {name} | {_cell(help_text)} | {_cell(default)} |")
    return "\n".join(rows) + "\n"


def _default(param: Any) -> str:
    value = param.default
    if value is None or value is False or value == () or callable(value):
        return ""
    return f"`{value}`"


def render(text: str, app: typer.Typer) -> str:
    """``text`` (docs/cli.md) with every command's block regenerated or inserted."""
    found = commands(app)

    def replace(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in found:
            return ""  # a command that no longer exists loses its table
        return _block(name, found[name])

    text = _BLOCK.sub(replace, text)
    for name, command in found.items():
        if f"<!-- options: {name} -->" in text:
            continue
        heading = re.search(rf"^## `{re.escape(name)}`\n\n?", text, re.M)
        if heading is None:
            continue  # the test suite reports an undocumented command
        text = text[:heading.end()] + _block(name, command) + text[heading.end():]
    # a hand-written synopsis before a block is replaced by the generated usage line
    return re.sub(r"```\npmmlkit [^`]*?```\n(<!-- options: )", r"\1", text)


def main(argv: list[str]) -> int:
    from pmmlkit.cli import app

    check = "--check" in argv
    paths = [a for a in argv if a != "--check"] or ["docs/cli.md"]
    path = Path(paths[0])
    current = path.read_text()
    wanted = render(current, app)
    if check:
        if wanted != current:
            print(f"{path} is out of date: run `python -m pmmlkit.cli._docs {path}`",
                  file=sys.stderr)
            return 1
        return 0
    path.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
