"""delete_data on a full disk (issue 11, item 5): a 503 with Retry-After that changed nothing, and
the same call succeeds once there is space again. The server's whole data directory (SQLite
database, blob folder) lives on a small tmpfs mounted in a mount namespace of the server's own,
which this test fills for real."""

import shutil
import subprocess
from pathlib import Path

from sitin.bootstrap import build_context
from sitin.config import Settings
from sitin.services import bots as bot_service
from support.captured import ended_bot_with_data
from support.launcher import StandInLauncher
from support.process import running_server
from support.projects import create_project
from support.settings import ROOM_URL

UTTERANCES = 2000  # deleting them needs far more database pages than a full disk leaves
MOUNT = 'mount -t tmpfs -o size=48m sitin-full "$0" && cp -a "$1"/. "$0"/ && shift && exec "$@"'


def _inside(pid: int, script: str) -> str:
    """Run a shell script in the server's mount namespace (where the tmpfs is)."""
    done = subprocess.run(
        ["nsenter", "-t", str(pid), "-m", "--", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout


def test_delete_data_on_a_full_disk_is_a_503_that_changed_nothing(tmp_path: Path):
    for tool in ("unshare", "nsenter", "mount"):
        assert shutil.which(tool), f"{tool} (util-linux) is needed to fill a disk for real"
    prepared = tmp_path / "prepared"
    ctx = build_context(Settings(data_dir=prepared, secret_key="full"), launcher=StandInLauncher())
    project = create_project(ctx, "full")
    spec = bot_service.validate_new_bot(ctx, {"meeting_url": ROOM_URL, "bot_name": "N"})
    with ctx.db.write() as tx:
        bot_id = bot_service.create_bot(ctx, tx, project_id=project.id, spec=spec).row["id"]
    ended_bot_with_data(ctx, bot_id, utterances=UTTERANCES, blobs=3, project_id=project.id)
    ctx.close()  # the last connection checkpoints the WAL into the database file

    mounted = tmp_path / "mounted"
    mounted.mkdir()
    env = {
        "SITIN_DATA_DIR": str(mounted),
        "SITIN_SECRET_KEY": "full",
        "SITIN_QUEUE_URL": "memory://",
        "SITIN_RUN_WORKER": "false",  # nothing else writes meanwhile
    }
    wrapper = [
        "unshare", "--mount", "--propagation", "private",
        "sh", "-c", MOUNT, str(mounted), str(prepared),
    ]  # fmt: skip
    files = f"find {mounted}/blobs -path '*{bot_id}*' -type f | wc -l"
    with (
        running_server(env, tmp_path / "server.log", wrapper=wrapper) as server,
        server.client(headers=project.headers, timeout=60) as api,
    ):
        pid = server.process.pid
        assert "sitin-full" in _inside(pid, f"df {mounted}")
        blobs_before = int(_inside(pid, files))
        assert blobs_before >= 3
        _inside(pid, f"cat /dev/zero > {mounted}/filler 2>/dev/null; sync")
        assert "100%" in _inside(pid, f"df {mounted}")

        refused = api.post(f"/api/v1/bots/{bot_id}/delete_data")
        assert refused.status_code == 503, refused.text
        assert int(refused.headers["Retry-After"]) > 0
        assert "disk space" in refused.json()["error"]
        assert "nothing was changed" in refused.json()["error"]

        bot = api.get(f"/api/v1/bots/{bot_id}").json()
        assert bot["state"] == "ended"
        assert "data_deleted" not in [e["type"] for e in bot["events"]]
        transcript = api.get(f"/api/v1/bots/{bot_id}/transcript").json()
        assert len(transcript) == UTTERANCES
        assert int(_inside(pid, files)) == blobs_before

        _inside(pid, f"rm {mounted}/filler")
        deleted = api.post(f"/api/v1/bots/{bot_id}/delete_data")
        assert deleted.status_code == 200, deleted.text
        assert deleted.json()["state"] == "data_deleted"
        assert int(_inside(pid, files)) == 0
    assert "Traceback" not in server.log()
