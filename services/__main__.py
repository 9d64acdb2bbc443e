"""Command line: ``python3 -m services {up,down,status,build} [SERVICE ...]``.

``up`` starts the named services (default: opensearch, kafka, s3) in parallel and returns once each
answers; they keep running in the background until ``down``. ``status`` exits 0 only if every named
service answers, so it doubles as a readiness check in scripts.
"""

from __future__ import annotations

import argparse
import sys
import threading

from services.manager import DEFAULT_SERVICES, ServiceError, StartResult, _mb, get, services, stop_many


def _up(names: list[str]) -> int:
    results: dict[str, StartResult | BaseException] = {}

    def run(name: str) -> None:
        try:
            results[name] = get(name).start()
        except BaseException as exc:
            results[name] = exc

    threads = [threading.Thread(target=run, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failed = 0
    for name in names:
        result = results[name]
        if isinstance(result, BaseException):
            failed += 1
            print(f"{name}: FAILED: {result}", file=sys.stderr)
            continue
        client = get(name).client_info()
        if result.already_running:
            print(f"{name}: already running -> {client}")
        else:
            print(f"{name}: started in {result.seconds:.1f}s, pid {result.pid}, RSS {_mb(result.rss)} -> {client}")
    return 1 if failed else 0


def _down(names: list[str]) -> int:
    results = stop_many(names)
    for name in names:
        service = get(name)
        if results.get(name):
            print(f"{name}: stopped")
        elif service.ready():
            print(f"{name}: answering, but not started by services/ (no pid file); left alone")
        else:
            print(f"{name}: not running")
    return 0


def _status(names: list[str]) -> int:
    down = 0
    for name in names:
        info = get(name).status()
        state = "up" if info["ready"] else "down"
        down += not info["ready"]
        extra = f" pid {info['pid']} RSS {_mb(info['rss'])}" if info["pid"] else ""
        print(f"{name}: {state}{extra} ports {info['ports']} -> {info['client']} (log: {info['log']})")
    return 1 if down else 0


def _build(names: list[str]) -> int:
    for name in names:
        service = get(name)
        service.prepare()
        print(f"{name}: prepared")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run one action; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python3 -m services", description=__doc__)
    parser.add_argument("action", choices=["up", "down", "status", "build"])
    parser.add_argument(
        "names",
        nargs="*",
        metavar="SERVICE",
        help=f"any of {', '.join(services())}; default {' '.join(DEFAULT_SERVICES)} "
        "(down also stops opensearch-secure)",
    )
    args = parser.parse_args(argv)
    names = args.names or list(DEFAULT_SERVICES)
    if args.action == "down" and not args.names:
        names = list(services())
    try:
        for name in names:
            get(name)
        return {"up": _up, "down": _down, "status": _status, "build": _build}[args.action](names)
    except ServiceError as exc:
        print(f"services: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
