"""Shared fixtures: an AppContext and API client on SQLite and on PostgreSQL, projects and keys.

PostgreSQL comes from ``SITIN_TEST_POSTGRES_URL`` (default: the server ``scripts/services.sh``
starts). When ``SITIN_TEST_REQUIRE_SERVICES`` is set (``scripts/test`` and CI set it), a missing
service fails the run instead of skipping the tests that need it.
"""

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from sitin.api.app import create_app
from sitin.bootstrap import build_context
from sitin.context import AppContext
from sitin.db.migrate import upgrade
from sitin.db.tables import metadata
from support.launcher import StandInLauncher
from support.moto import CREDENTIALS, S3Server, moto_s3
from support.projects import Project, create_project
from support.settings import ROOM_URL, make_settings

POSTGRES_URL = os.environ.get(
    "SITIN_TEST_POSTGRES_URL", "postgresql+psycopg://sitin:sitin@127.0.0.1:5432/sitin"
)
REDIS_URL = os.environ.get("SITIN_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE_SERVICES = bool(os.environ.get("SITIN_TEST_REQUIRE_SERVICES") or os.environ.get("CI"))


def service_unavailable(what: str, error: Exception) -> None:
    message = f"{what} is not available ({error}); start it with scripts/services.sh"
    if REQUIRE_SERVICES:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A migrated SQLite database file, copied for each test (migrating once is faster)."""
    path = tmp_path_factory.mktemp("template") / "sitin.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A database of its own for this test process (xdist worker), migrated once, dropped after."""
    admin_url = sa.engine.make_url(POSTGRES_URL)
    # the pid alone repeats across worktrees sharing one PostgreSQL: a random part keeps a
    # leftover database of another run (or another developer's live one) out of the way
    name = f"sitin_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        service_unavailable("PostgreSQL", exc)
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _empty_postgres(url: str) -> None:
    """Delete every row (children first): much faster than TRUNCATE on tables this small."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())
    engine.dispose()


@pytest.fixture(scope="module")
def module_postgres_url(postgres_database: str) -> str:
    """This worker's PostgreSQL database, emptied, for a module that shares one server."""
    _empty_postgres(postgres_database)
    return postgres_database


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path: Path, sqlite_template: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "sitin.db"
        shutil.copyfile(sqlite_template, path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_database")
    _empty_postgres(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "sitin.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def settings_overrides() -> dict:
    """Settings fields for ``ctx`` beyond make_settings' (parametrize it to change them)."""
    return {}


@pytest.fixture
def ctx(tmp_path: Path, database_url: str, settings_overrides: dict) -> Iterator[AppContext]:
    """The API's context; bots are not run: ``ctx.bots`` is a ``StandInLauncher``."""
    context = build_context(
        make_settings(tmp_path, database_url, **settings_overrides),
        migrate=False,
        launcher=StandInLauncher(),
    )
    yield context
    context.close()


@pytest.fixture
def client(ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(ctx)) as test_client:
        yield test_client


@pytest.fixture
def project(ctx: AppContext) -> Project:
    return create_project(ctx, "acme")


@pytest.fixture
def other_project(ctx: AppContext) -> Project:
    return create_project(ctx, "other")


@pytest.fixture
def new_bot(client: TestClient, project: Project):
    """Create a bot through the API; returns the response JSON."""

    def create(**fields) -> dict:
        body = {"meeting_url": ROOM_URL, "bot_name": "Notetaker", **fields}
        response = client.post("/api/v1/bots", json=body, headers=project.headers)
        assert response.status_code == 201, response.text
        return response.json()

    return create


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    """A moto_server on 127.0.0.1 for this module's tests, with boto3's credentials in the
    environment (inherited by ``sitin serve`` subprocesses)."""
    with pytest.MonkeyPatch.context() as env, moto_s3() as server:
        for name, value in CREDENTIALS.items():
            env.setenv(name, value)
        yield server
