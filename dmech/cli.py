"""The ``dmech`` command: ``info``, ``demo`` and ``bench``."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import re
import sys
from collections.abc import Sequence


def _core_requirements() -> list[str]:
    """Names of dmech's core (non-extra) dependencies, from the installed metadata."""
    try:
        requires = importlib.metadata.requires("dmech") or []
    except importlib.metadata.PackageNotFoundError:
        return []
    names = []
    for req in requires:
        if "extra ==" in req:
            continue
        names.append(re.split(r"[\s<>=!~;\[]", req, maxsplit=1)[0])
    return names


def info() -> dict:
    """Versions of dmech and its core dependencies, the devices, and the x64 state."""
    import jax

    from ._version import __version__

    versions = {"dmech": __version__, "python": platform.python_version()}
    for name in _core_requirements():
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "MISSING"
    return {
        "versions": versions,
        "backend": jax.default_backend(),
        "devices": [f"{d.platform}:{d.id} ({d.device_kind})" for d in jax.devices()],
        "x64_enabled": bool(jax.config.read("jax_enable_x64")),
        "platform": platform.platform(),
    }


def _cmd_info(args) -> int:
    report = info()
    if args.json:
        print(json.dumps(report))
        return 0
    print("dmech", report["versions"]["dmech"])
    for name, version in report["versions"].items():
        if name != "dmech":
            print(f"  {name:<12} {version}")
    print(f"backend      {report['backend']}")
    print(f"devices      {', '.join(report['devices'])}")
    print(f"x64 enabled  {report['x64_enabled']}")
    print(f"platform     {report['platform']}")
    return 0


def _cmd_demo(args) -> int:
    from ._demo import run_demo

    path = run_demo(args.out, quick=args.quick)
    print(path)
    return 0


def _cmd_bench(args) -> int:
    from .bench import BenchmarkError, available_benchmarks, run_benchmark

    if args.list:
        for name, bench in available_benchmarks().items():
            if isinstance(bench, Exception):
                print(f"{name:<24} FAILED TO LOAD: {bench!r}")
            else:
                print(f"{name:<24} {bench.description}")
        return 0
    if args.name is None:
        print("dmech bench: give a benchmark NAME or --list", file=sys.stderr)
        return 2
    overrides = {}
    for item in args.set:
        if "=" not in item:
            print(f"dmech bench: --set expects KEY=VALUE, got {item!r}", file=sys.stderr)
            return 2
        key, value = item.split("=", 1)
        overrides[key.strip()] = value.strip()
    try:
        report = run_benchmark(args.name, overrides, repeats=args.repeats, peer=not args.no_peer)
    except BenchmarkError as error:
        print(f"dmech bench: {error}", file=sys.stderr)
        return 2
    print(json.dumps(report), flush=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dmech", description="Differentiable computational mechanics in JAX."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p_info = sub.add_parser("info", help="versions, devices and x64 state")
    p_info.add_argument("--json", action="store_true", help="print one JSON line")
    p_info.set_defaults(func=_cmd_info)

    p_demo = sub.add_parser("demo", help="the flagship end-to-end run; writes a PNG")
    p_demo.add_argument("--out", default=None, help="PNG path (default: ./dmech-demo.png)")
    p_demo.add_argument("--quick", action="store_true", help="a much smaller run (tests)")
    p_demo.set_defaults(func=_cmd_demo)

    p_bench = sub.add_parser("bench", help="run a benchmark and print one JSON line")
    p_bench.add_argument("name", nargs="?", help="benchmark name (see --list)")
    p_bench.add_argument("--list", action="store_true", help="list the registered benchmarks")
    p_bench.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a parameter"
    )
    p_bench.add_argument("--repeats", type=int, default=3, help="timed repeats (median)")
    p_bench.add_argument("--no-peer", action="store_true", help="skip the peer library")
    p_bench.set_defaults(func=_cmd_bench)
    return parser


def _constants_as_arguments() -> None:
    """Have jit pass large closed-over arrays to compiled programs as arguments.

    dmech keeps a mesh's index arrays (connectivity, sparsity pattern, scatter map) as static
    numpy data; by default JAX embeds them in the compiled program, which at 1e6 dofs (GBs of
    indices) takes minutes to compile instead of seconds. Hoisting them is JAX's coming
    default (docs.jax.dev, "Handling of closed-over constants"). JAX reads the switch when it
    is imported (``jax.config.update`` later has no effect), so this runs first; a value the
    user set is kept.
    """
    if "jax" not in sys.modules:
        os.environ.setdefault("JAX_USE_SIMPLIFIED_JAXPR_CONSTANTS", "true")


def main(argv: Sequence[str] | None = None) -> int:
    _constants_as_arguments()
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
