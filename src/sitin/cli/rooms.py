"""``sitin rooms``: invite links for the local rooms of a closed deployment."""

import click

from sitin.cli.options import data_dir_option, require_existing_data, settings
from sitin.rooms.passes import RoomPasses
from sitin.rooms.registry import is_valid_room_name

MAX_INVITE_HOURS = 24 * 366


@click.group("rooms")
@data_dir_option
def group() -> None:
    """The local rooms (/rooms/<name>)."""


@group.command("invite")
@click.argument("room")
@click.option(
    "--hours",
    type=click.IntRange(1, MAX_INVITE_HOURS),
    default=24 * 7,
    show_default=True,
    help="How long the link lets people in.",
)
@data_dir_option
def invite(room: str, hours: int) -> None:
    """Print a signed link that lets anyone holding it into ROOM until it expires (for
    SITIN_ROOM_ACCESS=invite or passcode). Signed with this server's secret key."""
    if not is_valid_room_name(room):
        raise click.BadParameter(
            "1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
            param_hint="ROOM",
        )
    chosen = settings()
    require_existing_data(chosen)
    token = RoomPasses(chosen.resolved_secret_key).issue_invite(room, valid_seconds=hours * 3600)
    click.echo(f"{chosen.resolved_public_url}/rooms/{room}?invite={token}")
    if chosen.room_access == "open":
        click.echo(
            "(rooms are open on this server: SITIN_ROOM_ACCESS=open lets anyone in)", err=True
        )
