"""``sitin webhooks``: project-level subscriptions and the project's signing secret."""

from pathlib import Path

import click

from sitin.bootstrap import build_context
from sitin.config import load_settings
from sitin.context import AppContext
from sitin.core.errors import FieldErrors, WebhookNotFound
from sitin.core.timefmt import to_wire
from sitin.core.validation import WEBHOOK_TRIGGERS
from sitin.db import projects
from sitin.webhooks import service, signing

project_option = click.option(
    "--project",
    "project_name",
    default=projects.DEFAULT_PROJECT,
    show_default=True,
    help="Project name.",
)
data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the embedded database, blobs and queue live (env SITIN_DATA_DIR).",
)


def _context(data_dir: Path | None) -> AppContext:
    try:
        settings = load_settings(data_dir=data_dir)
    except ValueError as exc:
        raise click.ClickException(f"invalid configuration: {exc}") from None
    return build_context(settings)


def _project_id(ctx: AppContext, name: str) -> str:
    with ctx.db.read() as conn:
        project = projects.get_by_name(conn, name=name)
    if project is None:
        raise click.ClickException(f"no project named {name!r}")
    return project["id"]


@click.group("webhooks")
def webhooks() -> None:
    """Project-level webhook subscriptions and the signing secret."""


@webhooks.command("list")
@project_option
@data_dir_option
def list_command(project_name: str, data_dir: Path | None) -> None:
    ctx = _context(data_dir)
    project_id = _project_id(ctx, project_name)
    position = None
    while True:
        with ctx.db.read() as conn:
            page = service.list_subscriptions(
                conn, project_id=project_id, position=position, limit=100
            )
        for row in page.rows:
            state = "active" if row["is_active"] else "inactive"
            click.echo(f"{row['id']}  {row['url']}  {','.join(row['triggers'])}  {state}")
        if page.next is None:
            return
        position = page.next


@webhooks.command("create")
@click.argument("url")
@click.option(
    "--trigger",
    "triggers",
    multiple=True,
    type=click.Choice(WEBHOOK_TRIGGERS),
    help="Repeat for several triggers (default: all).",
)
@project_option
@data_dir_option
def create_command(
    url: str, triggers: tuple[str, ...], project_name: str, data_dir: Path | None
) -> None:
    """Subscribe URL to TRIGGERS for the project's bots without bot-level webhooks."""
    ctx = _context(data_dir)
    project_id = _project_id(ctx, project_name)
    body = {"url": url, "triggers": list(triggers or WEBHOOK_TRIGGERS)}
    try:
        with ctx.db.write() as tx:
            row = service.create_subscription(tx, ctx.settings, project_id=project_id, body=body)
    except FieldErrors as exc:
        messages = "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in exc.errors.items())
        raise click.ClickException(messages) from None
    click.echo(f"created {row['id']} for {project_name}")


@webhooks.command("delete")
@click.argument("webhook_id")
@project_option
@data_dir_option
def delete_command(webhook_id: str, project_name: str, data_dir: Path | None) -> None:
    ctx = _context(data_dir)
    project_id = _project_id(ctx, project_name)
    try:
        with ctx.db.write() as tx:
            service.delete_subscription(tx, project_id=project_id, webhook_id=webhook_id)
    except WebhookNotFound:
        raise click.ClickException(f"no webhook {webhook_id} in project {project_name}") from None
    click.echo(f"deleted {webhook_id}")


@webhooks.command("set-active")
@click.argument("webhook_id")
@click.argument("active", type=click.BOOL)
@project_option
@data_dir_option
def set_active_command(
    webhook_id: str, active: bool, project_name: str, data_dir: Path | None
) -> None:
    """Pause (false) or resume (true) a subscription: an inactive one gets no new deliveries."""
    ctx = _context(data_dir)
    project_id = _project_id(ctx, project_name)
    try:
        with ctx.db.write() as tx:
            service.update_subscription(
                tx,
                ctx.settings,
                project_id=project_id,
                webhook_id=webhook_id,
                body={"is_active": active},
            )
    except WebhookNotFound:
        raise click.ClickException(f"no webhook {webhook_id} in project {project_name}") from None
    click.echo(f"{webhook_id} is {'active' if active else 'inactive'}")


@webhooks.group("secret")
def secret_group() -> None:
    """The project's signing secret (base64): verify X-Webhook-Signature with it."""


@secret_group.command("show")
@project_option
@data_dir_option
def secret_show(project_name: str, data_dir: Path | None) -> None:
    """Print the current secret (created on first use), alone on the last line."""
    ctx = _context(data_dir)
    project_id = _project_id(ctx, project_name)
    with ctx.db.write() as tx:
        secret = signing.current_secret(tx.conn, ctx.settings, project_id=project_id)
        expiries = signing.secret_expiries(tx.conn, project_id=project_id)
    for expiry in expiries[1:]:
        click.echo(f"an older secret still verifies until {to_wire(expiry)}", err=True)
    click.echo(secret)


@secret_group.command("rotate")
@click.option(
    "--overlap",
    type=click.IntRange(min=0),
    default=None,
    help="Seconds the previous secret keeps verifying "
    "(default: SITIN_WEBHOOK_SECRET_OVERLAP_SECONDS).",
)
@project_option
@data_dir_option
def secret_rotate(overlap: int | None, project_name: str, data_dir: Path | None) -> None:
    """Make a new secret; print it alone on the last line."""
    ctx = _context(data_dir)
    project_id = _project_id(ctx, project_name)
    with ctx.db.write() as tx:
        secret = signing.rotate_secret(
            tx.conn, ctx.settings, project_id=project_id, overlap_seconds=overlap
        )
    seconds = ctx.settings.webhook_secret_overlap_seconds if overlap is None else overlap
    click.echo(f"rotated; the previous secret keeps verifying for {seconds}s", err=True)
    click.echo(secret)
