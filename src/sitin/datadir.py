"""The data directory is private to the service: the folder 0700, every file in it 0600.

The process umask is set to 077 so that everything sitin creates (SQLite files and their WAL,
blobs, the queue, temp files) is born private; a data directory written by an older version is
tightened once, on the first start that finds it open to others.
"""

import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077


def make_private(data_dir: Path) -> None:
    os.umask(PRIVATE_UMASK)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if stat.S_IMODE(data_dir.stat().st_mode) == 0o700:
        return
    for folder, dirs, files in os.walk(data_dir):
        os.chmod(folder, 0o700)
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                os.chmod(path, 0o600)
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]


def bot_work_dir(data_dir: Path, bot_id: str) -> Path:
    """Where a running bot keeps its temporary files (the recording being encoded, the
    transcription backlog spilled to disk); removed when the bot ends and by delete_data."""
    return data_dir / "work" / bot_id
