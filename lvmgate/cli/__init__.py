"""The `lvmgate` command line. Each sub-command lives in its own module here and exposes
`register(subparsers)`; `main` finds them, so adding a command never touches this file.

Exit codes: 0 success (GO/WARN for gates), 1 STOP, 2 bad usage or input (one clear line on stderr).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from lvmgate import __version__
from lvmgate.errors import LvmgateError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lvmgate", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"lvmgate {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    import lvmgate.cli as pkg

    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"lvmgate.cli.{info.name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    passthrough: list[str] = []
    if "--" in argv:  # everything after a bare -- goes to the command untouched (e.g. to pytest)
        cut = argv.index("--")
        argv, passthrough = argv[:cut], argv[cut + 1 :]
    args = parser.parse_args(argv)
    args.passthrough = passthrough
    if passthrough and not getattr(args, "accepts_passthrough", False):
        parser.error(f"{args.command} takes no arguments after --")
    try:
        code = args.func(args)
    except LvmgateError as exc:
        print(f"lvmgate {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"lvmgate {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
