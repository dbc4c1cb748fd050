"""Schemathesis over the OpenAPI schema, against the real server: every operation with generated valid and
invalid input (a fixed seed and example budget, so that a run is repeatable and bounded); no response may be
a server error, and each must be one the schema documents, in the documented shape.

The operations are driven with Hypothesis directly (schemathesis' pytest plugin fails to collect under
pytest 9 here); writes go without the key, so fuzzing never changes the index the other tests read."""

from __future__ import annotations

import hypothesis
import hypothesis.errors
import schemathesis
from schemathesis import GenerationMode, checks

EXAMPLES_PER_OPERATION = 20
SEED = 20261201
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


def test_no_input_makes_a_server_error(server) -> None:
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {operation.label for operation in operations} >= {"GET /search", "POST /ask", "POST /documents"}
    failures = {}
    calls = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @hypothesis.settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(hypothesis.HealthCheck),
                phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
            )
            @hypothesis.given(case=operation.as_strategy(mode))
            def call(case) -> None:
                calls.append(
                    case.call_and_validate(base_url=server.url, timeout=120, checks=CHECKS).status_code
                )

            try:
                call()
            except hypothesis.errors.Unsatisfiable:
                continue  # no invalid input exists (no parameters, or only unconstrained strings)
            except Exception as error:  # collect every operation's first failure, then report them all
                failures[f"{operation.label} ({mode.value})"] = str(error)[:2000]
    assert not failures, "\n\n".join(f"{label}: {error}" for label, error in failures.items())
    assert len(calls) >= 10 * len(operations) and max(calls) < 500  # the budget was really spent
