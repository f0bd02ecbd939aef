"""One CLI structure: the options every ``sitin`` command shares are defined once, in
``sitin/cli/options.py``, and every command accepts ``--data-dir`` after its name."""

import ast
from pathlib import Path

import click

import sitin.cli
from sitin.cli import main

CLI = Path(sitin.cli.__file__).parent
SHARED = {"--data-dir", "--database-url", "--project", "--log-level", "--log-format"}


def _leaf_commands(group: click.Group, path: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _leaf_commands(command, (*path, name))
        else:
            yield " ".join((*path, name)), command


def test_shared_options_are_defined_only_in_options_py():
    redefined = []
    for path in sorted(CLI.glob("*.py")):
        if path.name == "options.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "option"
            ):
                flags = {arg.value for arg in node.args if isinstance(arg, ast.Constant)}
                redefined += [f"{path.name}:{node.lineno} {flag}" for flag in flags & SHARED]
    assert redefined == []


def test_every_command_takes_the_shared_data_dir_after_its_name():
    commands = dict(_leaf_commands(main))
    assert {"serve", "worker", "migrate", "webhooks create", "projects create"} <= set(commands)
    shared_help = sitin.cli.options.data_dir_option(click.Command("probe")).params[0].help
    for name, command in commands.items():
        data_dir = [p for p in command.params if "--data-dir" in getattr(p, "opts", ())]
        assert len(data_dir) == 1, name
        assert data_dir[0].help == shared_help, name
