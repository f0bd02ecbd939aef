"""``sitin webhooks``: project-level subscriptions and the project's signing secret."""

import click

from sitin.cli.options import data_dir_option, find_project, open_context, project_option
from sitin.core.errors import FieldErrors, WebhookNotFound
from sitin.core.timefmt import to_wire
from sitin.core.triggers import WEBHOOK_TRIGGERS
from sitin.services import webhooks as webhook_service
from sitin.webhooks import signing


@click.group("webhooks")
@data_dir_option
def group() -> None:
    """Project-level webhook subscriptions and the signing secret."""


@group.command("list")
@project_option(required=False)
@data_dir_option
def list_command(project_name: str) -> None:
    with open_context() as ctx:
        with ctx.db.read() as conn:
            project_id = find_project(conn, project_name)["id"]
        position = None
        while True:
            with ctx.db.read() as conn:
                page = webhook_service.list_subscriptions(
                    conn, project_id=project_id, position=position, limit=100
                )
            for row in page.rows:
                state = "active" if row["is_active"] else "inactive"
                click.echo(f"{row['id']}  {row['url']}  {','.join(row['triggers'])}  {state}")
            if page.next is None:
                return
            position = page.next


@group.command("create")
@click.argument("url")
@click.option(
    "--trigger",
    "triggers",
    multiple=True,
    type=click.Choice(WEBHOOK_TRIGGERS),
    help="Repeat for several triggers (default: all).",
)
@project_option(required=False)
@data_dir_option
def create_command(url: str, triggers: tuple[str, ...], project_name: str) -> None:
    """Subscribe URL to TRIGGERS for the project's bots without bot-level webhooks."""
    body = {"url": url, "triggers": list(triggers or WEBHOOK_TRIGGERS)}
    with open_context() as ctx:
        try:
            with ctx.db.write() as tx:
                project_id = find_project(tx.conn, project_name)["id"]
                row = webhook_service.create_subscription(
                    tx, ctx.outbound, project_id=project_id, body=body
                )
        except FieldErrors as exc:
            messages = "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in exc.errors.items())
            raise click.ClickException(messages) from None
    click.echo(f"created {row['id']} for {project_name}")


@group.command("delete")
@click.argument("webhook_id")
@project_option(required=False)
@data_dir_option
def delete_command(webhook_id: str, project_name: str) -> None:
    with open_context() as ctx:
        try:
            with ctx.db.write() as tx:
                project_id = find_project(tx.conn, project_name)["id"]
                webhook_service.delete_subscription(
                    tx, project_id=project_id, webhook_id=webhook_id
                )
        except WebhookNotFound:
            raise click.ClickException(
                f"no webhook {webhook_id} in project {project_name}"
            ) from None
    click.echo(f"deleted {webhook_id}")


@group.command("set-active")
@click.argument("webhook_id")
@click.argument("active", type=click.BOOL)
@project_option(required=False)
@data_dir_option
def set_active_command(webhook_id: str, active: bool, project_name: str) -> None:
    """Pause (false) or resume (true) a subscription: an inactive one gets no new deliveries."""
    with open_context() as ctx:
        try:
            with ctx.db.write() as tx:
                project_id = find_project(tx.conn, project_name)["id"]
                webhook_service.update_subscription(
                    tx,
                    ctx.outbound,
                    project_id=project_id,
                    webhook_id=webhook_id,
                    body={"is_active": active},
                )
        except WebhookNotFound:
            raise click.ClickException(
                f"no webhook {webhook_id} in project {project_name}"
            ) from None
    click.echo(f"{webhook_id} is {'active' if active else 'inactive'}")


@group.group("secret")
@data_dir_option
def secret_group() -> None:
    """The project's signing secret (base64): verify X-Webhook-Signature with it."""


@secret_group.command("show")
@project_option(required=False)
@data_dir_option
def secret_show(project_name: str) -> None:
    """Print the current secret (created on first use), alone on the last line."""
    with open_context() as ctx, ctx.db.write() as tx:
        project_id = find_project(tx.conn, project_name)["id"]
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
@project_option(required=False)
@data_dir_option
def secret_rotate(overlap: int | None, project_name: str) -> None:
    """Make a new secret; print it alone on the last line."""
    with open_context() as ctx:
        with ctx.db.write() as tx:
            project_id = find_project(tx.conn, project_name)["id"]
            secret = signing.rotate_secret(
                tx.conn, ctx.settings, project_id=project_id, overlap_seconds=overlap
            )
        seconds = ctx.settings.webhook_secret_overlap_seconds if overlap is None else overlap
    click.echo(f"rotated; the previous secret keeps verifying for {seconds}s", err=True)
    click.echo(secret)
