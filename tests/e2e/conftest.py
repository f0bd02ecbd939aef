from collections.abc import Iterator
from pathlib import Path

import pytest

from support.live import Live, start_live


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    with start_live(tmp_path) as running:
        yield running
