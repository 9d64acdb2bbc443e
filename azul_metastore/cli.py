"""The ``azul-metastore`` command line. Each command parses its input, calls one service built by
the composition root, and prints the outcome. Errors become exit codes in one place,
:class:`MetastoreGroup`:

=====  =====================================================
code   meaning
=====  =====================================================
0      success
1      unexpected failure (a bug, or a backend error we did not foresee)
2      bad input or bad configuration (message says what is accepted)
3      not found
4      a backend is unavailable
=====  =====================================================
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click
import orjson

from azul_metastore.errors import MetastoreError
from azul_metastore.settings import Settings, load_settings


class MetastoreGroup(click.Group):
    """A click group that turns our errors into a message on stderr and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MetastoreError as exc:
            click.echo(f"error: {exc.message}", err=True)
            ctx.exit(exc.exit_code)


def _settings(ctx: click.Context) -> Settings:
    if "settings" not in ctx.meta:
        ctx.meta["settings"] = load_settings()
    return ctx.meta["settings"]


def _services(ctx: click.Context):
    from azul_metastore.app import build_services

    if "services" not in ctx.meta:
        svc = build_services(_settings(ctx))
        ctx.meta["services"] = svc
        ctx.call_on_close(svc.close)
    return ctx.meta["services"]


@click.group(cls=MetastoreGroup)
@click.version_option(package_name="azul-metastore")
def main() -> None:
    """Azul-compatible malware metastore: binaries, plugin results, search and lifecycle.

    Settings come from METASTORE_* environment variables and an optional .env file;
    `azul-metastore config show` prints what is in effect.
    """


# --- config ---------------------------------------------------------------------------------------


@main.group()
def config() -> None:
    """Inspect the configuration."""


@config.command("show")
@click.pass_context
def config_show(ctx: click.Context) -> None:
    """Print the effective configuration as JSON, secrets masked.

    Example:

        METASTORE_PARTITION=prod azul-metastore config show
    """
    click.echo(json.dumps(_settings(ctx).masked(), indent=2, sort_keys=True))


# --- events ---------------------------------------------------------------------------------------


@main.group()
def events() -> None:
    """Publish events to the event log and read them back."""


def _read_events(stream: Any) -> list[Any]:
    """A JSON array, a single JSON object, or JSON lines."""
    data = stream.read()
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    stripped = text.strip()
    if not stripped:
        return []
    try:
        parsed = orjson.loads(stripped)
        return parsed if isinstance(parsed, list) else [parsed]
    except orjson.JSONDecodeError:
        pass
    out = []
    for n, line in enumerate(stripped.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            raise click.UsageError(f"line {n} is not JSON ({exc}); give a JSON array or JSON lines") from exc
    return out


@events.command("publish")
@click.argument("source", type=click.File("rb"))
@click.option("--model", "-m", default="binary", show_default=True,
              type=click.Choice(["binary", "plugin", "status", "insert", "download", "delete"]))
@click.pass_context
def events_publish(ctx: click.Context, source: Any, model: str) -> None:
    """Validate and publish events from FILE (or - for stdin): a JSON array or JSON lines.

    Prints one line per rejected event; exits 2 if any was rejected.

    Example:

        azul-metastore events publish --model binary shared/fixtures/azul-events/2bd32_cuckoo.json
    """
    raw = _read_events(source)
    result = _services(ctx).intake.post(model, raw)
    for failure in result.failures:
        click.echo(f"rejected: {failure.error}", err=True)
    click.echo(f"published {len(result.accepted)} {model} events, rejected {len(result.failures)}")
    if result.failures:
        ctx.exit(2)


@events.command("tail")
@click.argument("topic")
@click.option("-n", "--lines", default=10, show_default=True, help="how many of the newest records to show")
@click.option("--from", "start", type=int, default=None, help="start at this offset instead of the newest")
@click.option("--follow", "-f", is_flag=True, help="keep printing new records as they arrive")
@click.pass_context
def events_tail(ctx: click.Context, topic: str, lines: int, start: int | None, follow: bool) -> None:
    """Print records of TOPIC as JSON lines ({topic, offset, key, timestamp_ms, event}).

    Topics: binary, binary.expedite, binary.retry.<plugin>, plugin, status, insert, download,
    delete, dead-letter.

    Example:

        azul-metastore events tail binary -n 5
    """
    log = _services(ctx).event_log
    offset = max(0, log.end_offset(topic) - lines) if start is None else start
    while True:
        records = log.read(topic, offset, 1000 if follow else lines)
        for r in records:
            line = {"topic": r.topic, "offset": r.offset, "key": r.key, "timestamp_ms": r.timestamp_ms,
                    "event": orjson.loads(r.value)}
            click.echo(orjson.dumps(line).decode())
            offset = r.offset + 1
        if not follow:
            return
        if not records:
            time.sleep(0.5)


@events.command("topics")
@click.pass_context
def events_topics(ctx: click.Context) -> None:
    """List topics with their end offsets.

    Example:

        azul-metastore events topics
    """
    log = _services(ctx).event_log
    for name in log.topics():
        click.echo(f"{name}\t{log.end_offset(name)}")


# --- ingestors ------------------------------------------------------------------------------------


def _run_ingestor(ctx: click.Context, model: str, once: bool) -> None:
    import signal
    import threading

    from azul_metastore.app import build_ingestor
    from azul_metastore.ingest.metrics import serve_metrics
    from azul_metastore.server import configure_logging

    services = _services(ctx)
    configure_logging(services.settings)
    ingestor = build_ingestor(services, model)
    if once:
        total = 0
        while count := ingestor.run_once(wait=0):
            total += count
        click.echo(f"ingested {total} {model} events")
        return
    serve_metrics(services.settings.prometheus_port)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    ingestor.run(stop)


def _ingest_command(model: str, description: str) -> None:
    @main.command(f"ingest-{model}", help=f"""{description}

    Runs until SIGTERM/SIGINT (finishing the batch in hand), with Prometheus metrics on
    METASTORE_PROMETHEUS_PORT; --once indexes what is waiting and exits.

    Example:

        azul-metastore ingest-{model} --once
    """)
    @click.option("--once", is_flag=True, help="index the events waiting now, then exit")
    @click.pass_context
    def command(ctx: click.Context, once: bool) -> None:
        _run_ingestor(ctx, model, once)


_ingest_command("binary", "Ingest binary events from the event log into the index.")
_ingest_command("plugin", "Ingest plugin registration events into the index.")
_ingest_command("status", "Ingest status events into the index.")
_ingest_command("download", "Ingest download events into the index (as statuses).")


# --- serve ----------------------------------------------------------------------------------------


@main.command()
@click.option("--host", default=None, help="address to listen on [default: METASTORE_HOST, 127.0.0.1]")
@click.option("--port", default=None, type=int, help="port [default: METASTORE_PORT, 8080]")
@click.option("--no-workers", is_flag=True, help="serve the API only: no ingestors or scheduled jobs")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, no_workers: bool) -> None:
    """Run everything in one process: the REST API, the ingestors and the scheduled jobs.

    SIGTERM or SIGINT stops accepting requests, lets each worker finish its current batch, and exits.

    Example:

        METASTORE_DATA_DIR=var/data azul-metastore serve --port 8080
    """
    from azul_metastore.server import run

    settings = _settings(ctx)
    run(settings, host or settings.host, port if port is not None else settings.port, workers=not no_workers)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
