"""What every management command shares: one result on stdout, logs and progress on stderr,
one exit-code contract (docs/cli.md).

- ``--json``: exactly one JSON document (an object) on stdout, whatever the outcome of a
  command that got past its arguments (a denial or a failed check is reported in it too);
  without it, the same result as readable lines.
- Exit codes: ``0`` ok, ``1`` denied or a check that failed, ``2`` usage or configuration
  (bad arguments, a studio or object that does not exist, a connector that is not set up).
  argparse's own usage errors already exit 2.
- Progress goes to stderr: a tqdm bar when stderr is a terminal, one line per finished step
  otherwise, nothing with ``-v 0``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper
from django.core.serializers.json import DjangoJSONEncoder
from tqdm import tqdm

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class UsageError(CommandError):
    """Bad arguments or configuration: exit 2, the message on stderr, nothing on stdout."""

    def __init__(self, message: str) -> None:
        super().__init__(message, returncode=EXIT_USAGE)


class Failed(CommandError):
    """Denied, or a check that failed: exit 1 (with ``--json``, the report is on stdout)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, returncode=EXIT_FAILED)


def json_document(payload: Any) -> str:
    """The one JSON rendering of command results: the encoder the agent API uses (Django's:
    ISO 8601 times in UTC with ``Z``), keys sorted so the same state prints the same bytes."""
    return json.dumps(payload, cls=DjangoJSONEncoder, sort_keys=True)


class _StderrText:
    """tqdm writes partial lines (``\\r`` updates); Django's wrapper would add newlines."""

    def __init__(self, wrapper: OutputWrapper) -> None:
        self.wrapper = wrapper

    def write(self, text: str) -> None:
        self.wrapper.write(text, ending="")

    def flush(self) -> None:
        self.wrapper.flush()


class BrainCommand(BaseCommand):
    """A command that reports data: ``--json`` (also after a subcommand) and the exit codes."""

    as_json: bool = False
    emitted: bool = False

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        help_text = "print exactly one JSON document on stdout instead of readable lines"
        parser.add_argument("--json", action="store_true", help=help_text)
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    # SUPPRESS: a subcommand without the flag keeps what the main parser set.
                    sub.add_argument(
                        "--json", action="store_true", default=argparse.SUPPRESS, help=help_text
                    )
        return parser

    def execute(self, *args: Any, **options: Any) -> Any:
        self.as_json = bool(options.get("json"))
        self.emitted = False
        self.verbosity = int(options.get("verbosity", 1))
        return super().execute(*args, **options)

    def emit(self, payload: dict[str, Any], lines: Iterable[str] | str = ()) -> None:
        """The command's result: ``payload`` as JSON with ``--json``, else the readable lines.

        Called once per run: with ``--json`` stdout holds exactly this one document."""
        self.emitted = True
        if self.as_json:
            self.stdout.write(json_document(payload))
            return
        for line in [lines] if isinstance(lines, str) else lines:
            self.stdout.write(line)

    def progress(self, *, total: int | None, desc: str, unit: str = "it") -> tqdm[Any]:
        """A bar on stderr; disabled when stderr is not a terminal or with ``-v 0``."""
        return tqdm(
            total=total,
            desc=desc,
            unit=unit,
            file=_StderrText(self.stderr),
            disable=self.verbosity == 0 or not self.stderr.isatty(),
            leave=False,
            dynamic_ncols=True,
        )

    def note(self, line: str) -> None:
        """A progress line for a log or a pipe (stderr, not a terminal); silent with ``-v 0``."""
        if self.verbosity > 0 and not self.stderr.isatty():
            self.stderr.write(line)


class CollectionProgress:
    """The ``progress`` hook of a snapshot read (``ReadProgress``): one bar per collection on
    a terminal, sized by ``expected`` counts when known; one line per finished collection
    on a pipe; nothing with ``-v 0``."""

    def __init__(self, command: BrainCommand, expected: dict[str, int] | None = None) -> None:
        self.command = command
        self.expected = expected or {}
        self.bars: dict[str, tqdm[Any]] = {}

    def __enter__(self) -> CollectionProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()

    def __call__(self, source: str, collection: str, count: int, done: bool) -> None:
        name = f"{source}:{collection}"
        expected = self.expected.get(name) or None
        bar = self.bars.get(name)
        if bar is None:
            bar = self.bars[name] = self.command.progress(total=expected, desc=name, unit="doc")
        bar.update(max(0, count - bar.n))
        if done:
            bar.close()
            del self.bars[name]
            of = f" / {expected}" if expected else ""
            self.command.note(f"  {name:<34} {count:>7}{of}")
