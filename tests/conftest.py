"""Test-wide set-up.

Airflow reads its configuration when first imported, so the environment is fixed here, before any test
module imports it: a private AIRFLOW_HOME, this project's dags/ and plugins/, no examples, and an absolute
SQLite path for Airflow's metadata database.
"""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="wechat-airflow-home-"))

os.environ.update(
    {
        "AIRFLOW_HOME": str(_AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    }
)

pytest_plugins = ["tests.fixtures.sandbox", "tests.fixtures.airflow", "tests.fixtures.egress"]

ON_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_service(name: str, host: str, port: int) -> None:
    """Skip when a local service is absent, except on CI, where its absence is a failure."""
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError as exc:
        message = f"{name} is not reachable at {host}:{port} ({exc})"
        if ON_CI:
            pytest.fail(f"{message}; CI must provide it")
        pytest.skip(message)


@pytest.fixture
def store_url(tmp_path) -> str:
    """A fresh campaign store (SQLite file) at the current schema."""
    from wechat_campaigns.store.db import upgrade

    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    return url


PG_ADMIN_URL = os.environ.get("WECHAT_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def pg_store_url():
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    import uuid

    import sqlalchemy as sa

    from wechat_campaigns.store.db import engine_for, upgrade

    require_service("PostgreSQL", "127.0.0.1", 5432)
    name = f"wechat_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    upgrade(url)
    yield url
    engine_for(url).dispose()
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def any_store_url(request):
    """The same test on both databases the store supports."""
    fixture = "store_url" if request.param == "sqlite" else "pg_store_url"
    return request.getfixturevalue(fixture)
