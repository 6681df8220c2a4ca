"""Property-based requests generated from /openapi.json by schemathesis: whatever the body,
never a 5xx. (Driven with hypothesis directly: schemathesis' pytest plugin does not run on
this pytest.)"""
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from kasuhara.service.app import create_app
from kasuhara.service.settings import Settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live_app(tmp_path_factory, engine):
    db = tmp_path_factory.mktemp("st") / "k.db"
    app = create_app(Settings(api_keys=[], database_url=f"sqlite:///{db}", rate_limit_per_minute=100_000),
                     engine=engine)
    with TestClient(app):  # runs the lifespan: engine and store in app.state
        yield app


def test_generated_requests_never_get_a_5xx(live_app):
    schema = schemathesis.openapi.from_asgi("/openapi.json", live_app)
    operations = [r.ok() for r in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/score", "/v1/score/batch", "/v1/feedback", "/v1/categories"}
    seen = []

    def check(op):
        @given(case=op.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case):
            response = case.call()
            seen.append((op.path, response.status_code))
            assert response.status_code < 500, (op.method, op.path, response.status_code, response.text[:200])

        run()

    for op in operations:
        check(op)
    assert len(seen) >= 50
