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

from azul_metastore.errors import MetastoreError, NotFound
from azul_metastore.settings import MAX_SECONDS, Settings, load_settings


class MetastoreGroup(click.Group):
    """A click group that turns our errors into a message on stderr and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MetastoreError as exc:
            click.echo(f"error: {exc.message}", err=True)
            ctx.exit(exc.exit_code)
        except OSError as exc:
            # a path of the settings that cannot be used (a file where the data directory should be,
            # no permission) is configuration (2); anything else the machine refused, unavailable (4)
            where = f"{exc.filename}: " if exc.filename else ""
            click.echo(f"error: {where}{exc.strerror or exc}", err=True)
            ctx.exit(2 if isinstance(exc, _PATH_ERRORS) else 4)


#: OSErrors that say a configured path is unusable
_PATH_ERRORS = (FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError, PermissionError)


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
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise click.UsageError(f"the input is not UTF-8 text ({exc.reason} at byte {exc.start});"
                               " give a JSON array or JSON lines") from exc
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
@click.option("-n", "--lines", default=10, show_default=True, type=click.IntRange(0, 1_000_000),
              help="how many of the newest records to show")
@click.option("--from", "start", type=click.IntRange(0, 2**63 - 1), default=None,
              help="start at this offset instead of the newest")
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
    if not follow and topic not in (known := log.topics()):
        raise NotFound(f"no topic {topic!r} in the event log; it has: {', '.join(known) or 'none yet'}")
    offset = max(0, log.end_offset(topic) - lines) if start is None else start
    while True:
        records = log.read(topic, offset, 1000 if follow else lines)
        for r in records:
            line: dict[str, Any] = {"topic": r.topic, "offset": r.offset, "key": r.key, "timestamp_ms": r.timestamp_ms}
            try:
                line["event"] = orjson.loads(r.value)
            except orjson.JSONDecodeError:  # written by something other than intake
                line["raw"] = r.value.decode("utf-8", "replace")
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


# --- OpenSearch ------------------------------------------------------------------------------------


@main.command("force-update-templates")
@click.pass_context
def force_update_templates(ctx: click.Context) -> None:
    """Put the OpenSearch index templates of this partition and add new mapping fields to its indices.

    Mappings only grow: a changed field type is refused, and then a new METASTORE_PARTITION and a
    reingest are needed.

    Example:

        METASTORE_OPENSEARCH_URL=http://127.0.0.1:9200 azul-metastore force-update-templates
    """
    from azul_metastore.index.opensearch.admin import force_update_templates as update

    updated = update(_settings(ctx))
    click.echo(f"updated templates: {', '.join(updated)}")


def _admin_client(settings: Settings, no_input: bool):
    """The security-admin client: admin credentials from settings, else (interactive) asked for."""
    from azul_metastore.errors import ConfigError
    from azul_metastore.index.opensearch.client import client_from_settings, new_client

    if settings.opensearch_admin_username and settings.opensearch_admin_password.get_secret_value():
        return client_from_settings(settings, admin=True)
    if no_input:
        raise ConfigError("--no-input needs METASTORE_OPENSEARCH_ADMIN_USERNAME and "
                          "METASTORE_OPENSEARCH_ADMIN_PASSWORD")
    choice = click.prompt("authenticate with 1) username/password 2) JWT 3) OAuth token", type=click.Choice("123"))
    verify = settings.certificate_verification
    if choice == "1":
        user = click.prompt("username", default=settings.opensearch_admin_username)
        return new_client(settings.opensearch_url, user, click.prompt("password", hide_input=True),
                          verify_certs=verify)
    token = click.prompt("token", hide_input=True)
    return new_client(settings.opensearch_url, verify_certs=verify, headers={"Authorization": f"Bearer {token}"})


@main.command("apply-opensearch-config")
@click.option("--rolesmapping", is_flag=True, help="also map each label (as a backend role) to its role")
@click.option("--print-only", is_flag=True, help="print the requests and exit without contacting OpenSearch")
@click.option("--no-input", is_flag=True, help="never prompt; admin credentials must be in the settings")
@click.pass_context
def apply_opensearch_config(ctx: click.Context, rolesmapping: bool, print_only: bool, no_input: bool) -> None:
    """Create the OpenSearch security roles (one per label, azul_read with document-level security,
    azul_write) and, with --rolesmapping, their role mappings. Existing ones are left unchanged.

    Credentials: METASTORE_OPENSEARCH_ADMIN_USERNAME / _PASSWORD, or asked for.

    Example:

        azul-metastore apply-opensearch-config --rolesmapping --no-input
    """
    from azul_metastore.index.opensearch.admin import apply_opensearch_config as apply
    from azul_metastore.index.opensearch.admin import print_opensearch_config

    settings = _settings(ctx)
    if rolesmapping:
        click.echo("role mappings will be applied too")
    if print_only:
        click.echo(print_opensearch_config(settings, rolesmapping))
        return
    if not no_input:
        click.confirm(f"apply the security configuration to {settings.opensearch_url}?", abort=True)
    outcomes = apply(settings, _admin_client(settings, no_input), rolesmapping)
    for outcome in outcomes:
        click.echo(f"{outcome.result}: {outcome.path}")
    if any(o.result.startswith("failed") for o in outcomes):
        ctx.exit(1)


# --- lifecycle: age-off, purge, lost tasks -------------------------------------------------------


def _lifecycle(ctx: click.Context):
    from azul_metastore.lifecycle.jobs import lifecycle

    return lifecycle(_services(ctx))


@main.command("age-off")
@click.option("--dry-run", is_flag=True, help="print what would be deleted and delete nothing")
@click.option("--loop", is_flag=True, help="keep running, one pass every --interval seconds")
@click.option("--interval", type=click.FloatRange(min=1, max=MAX_SECONDS), default=None,
              help="seconds between passes with --loop [default: METASTORE_AGE_OFF_INTERVAL_SECONDS]")
@click.pass_context
def age_off(ctx: click.Context, dry_run: bool, loop: bool, interval: float | None) -> None:
    """Delete data older than its retention: submissions per source (expire_events_after), statuses
    (status_expire_events), binaries left without a submission with their results, and stored bytes
    no kept submission lists; tags of removed binaries are disabled.

    Example:

        azul-metastore age-off --dry-run
    """
    import signal
    import threading

    from azul_metastore.lifecycle.jobs import run_age_off_loop
    from azul_metastore.server import configure_logging

    life = _lifecycle(ctx)
    if not loop:
        for line in life.age_off().run(dry_run=dry_run).lines():
            click.echo(line)
        return
    configure_logging(life.services.settings)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    every = interval if interval is not None else life.services.settings.age_off_interval_seconds
    run_age_off_loop(life.age_off(), every, stop, on_report=lambda r: [click.echo(x) for x in r.lines()],
                     dry_run=dry_run)


@main.group("purge")
def purge_group() -> None:
    """Purge metadata and data: simulate by default (count what matches), --purge to delete.

    A purge removes the matching documents, every descendant left without another parent, their
    results, statuses and stored bytes, and buries the ids so a replay of the event log does not
    bring them back. It is journalled under METASTORE_DATA_DIR/purge: a purge that was interrupted
    finishes when run again.
    """


def _purge(ctx: click.Context, kind: str, value: str, timestamp: str | None, really: bool) -> None:
    import getpass

    from azul_metastore.audit import audit
    from azul_metastore.lifecycle.purge import PurgeRequest
    from azul_metastore.server import configure_audit

    request = PurgeRequest(kind, value, timestamp)  # type: ignore[arg-type]
    purger = _lifecycle(ctx).purger()
    if not really:
        found = purger.simulate(request).events
        click.echo(f"simulation: {found} documents match {kind} {value}; run again with --purge to delete them")
        return
    configure_audit(_settings(ctx))  # the purge is audited as the API's are
    user = f"cli:{getpass.getuser()}"
    total = max(1, purger.simulate(request).events)
    with click.progressbar(length=total, label="purging", file=sys.stderr, show_pos=True) as bar:
        results = purger.purge(request, user, progress=lambda _step, n: bar.update(n))
    audit("purge", user=user, request_id=request.key, kind=kind, value=value, timestamp=timestamp,
          events_purged=results.events_purged, binaries_purged=results.binaries_purged)
    click.echo(f"purged {results.events_purged} documents; stored streams: {results.binaries_purged} deleted, "
               f"{results.binaries_kept} kept")


_REALLY = click.option("--purge", "really", is_flag=True, help="delete for real (the default only simulates)")


@purge_group.command("binary")
@click.argument("sha256")
@_REALLY
@click.pass_context
def purge_binary(ctx: click.Context, sha256: str, really: bool) -> None:
    """Purge a binary, its descendants without another parent, their results and bytes.

    Example:

        azul-metastore purge binary 2bd322c8784fe18426cae39c7a23e8e8330f8510ad4ac6102bdd9bb28c2fba35 --purge
    """
    _purge(ctx, "binary", sha256, None, really)


@purge_group.command("submission")
@click.argument("track_source_references")
@click.option("--timestamp", required=True, help="the submission's source.timestamp, e.g. 2024-01-31T12:00:00Z")
@_REALLY
@click.pass_context
def purge_submission(ctx: click.Context, track_source_references: str, timestamp: str, really: bool) -> None:
    """Purge one submission (its track_source_references and source.timestamp) and what it brought.

    Example:

        azul-metastore purge submission samples.0f3c... --timestamp 2024-01-31T12:00:00Z --purge
    """
    _purge(ctx, "submission", track_source_references, timestamp, really)


@purge_group.command("author")
@click.argument("track_author")
@_REALLY
@click.pass_context
def purge_author(ctx: click.Context, track_author: str, really: bool) -> None:
    """Purge everything an author produced (TRACK_AUTHOR is category.name.version).

    Example:

        azul-metastore purge author plugin.unzipper.1.0 --purge
    """
    _purge(ctx, "author", track_author, None, really)


@purge_group.command("link")
@click.argument("track_link")
@_REALLY
@click.pass_context
def purge_link(ctx: click.Context, track_link: str, really: bool) -> None:
    """Purge a parent→child link (TRACK_LINK) and the child if that was its only parent.

    Example:

        azul-metastore purge link PARENT.CHILD.2024_01_31T12_00_00Z.user.alice. --purge
    """
    _purge(ctx, "link", track_link, None, really)


@main.command("process-lost-tasks")
@click.option("--loop", is_flag=True, help="keep running, one pass every METASTORE_LOST_TASK_CHECK_SECONDS")
@click.pass_context
def process_lost_tasks(ctx: click.Context, loop: bool) -> None:
    """Retry plugin tasks handed out through `active` that never finished (or failed with a
    transient error): published again to the plugin's retry lane up to METASTORE_RETRY_MAX_ATTEMPTS
    times, then ended with an error-network "lost task" status. Safe to run in several processes.

    Example:

        azul-metastore process-lost-tasks --loop
    """
    import signal
    import threading

    from azul_metastore.server import configure_logging

    lost = _lifecycle(ctx).lost_tasks()
    if not loop:
        report = lost.run_once()
        click.echo(f"read {report.statuses} statuses; retried {report.retried}, lost {report.lost}, "
                   f"failed for good {report.failed}")
        return
    configure_logging(_settings(ctx))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    lost.run(stop)


# --- serve ----------------------------------------------------------------------------------------


@main.command()
@click.option("--host", default=None, help="address to listen on [default: METASTORE_HOST, 127.0.0.1]")
@click.option("--port", default=None, type=click.IntRange(0, 65535), help="port [default: METASTORE_PORT, 8080]")
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
