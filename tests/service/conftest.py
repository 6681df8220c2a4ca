"""Fixtures shared by the service tests."""
import os
import uuid

import pytest
import sqlalchemy as sa

PG = os.environ.get("KASUHARA_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture
def pg_admin_url() -> str:
    """The PostgreSQL database itself (its public schema), for what a test does from outside."""
    return PG


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    """A SQLite file, or a schema of its own in the PostgreSQL database (other runs share it)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'k.db'}"
        return
    schema = "test_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(PG)
    try:
        with admin.begin() as c:
            c.execute(sa.text(f"CREATE SCHEMA {schema}"))
    except sa.exc.OperationalError as e:
        pytest.skip(f"PostgreSQL at {PG} unreachable: {type(e).__name__}")
    yield f"{PG}?options=-csearch_path%3D{schema}"
    with admin.begin() as c:
        c.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()
