"""The storage errors of imatinib_tdm.errors keep their fields and pickle."""

from __future__ import annotations

import pickle

from imatinib_tdm.errors import (
    ConflictError,
    ImmutableRecordError,
    NotFoundError,
    PermissionDeniedError,
    TdmError,
)


def test_storage_errors_pickle_with_their_fields() -> None:
    errors = [
        NotFoundError("no patient with id 3", entity="patient", entity_id=3),
        ConflictError("stale", field="revision", expected_revision=2, current_revision=3),
        ImmutableRecordError("reports row 1 is append-only", entity="reports", entity_id=1),
        PermissionDeniedError("no", action="issue reports", role="viewer"),
    ]
    for error in errors:
        clone = pickle.loads(pickle.dumps(error))
        assert type(clone) is type(error)
        assert isinstance(clone, TdmError)
        assert str(clone) == str(error)
        assert clone.fields == error.fields
    assert pickle.loads(pickle.dumps(errors[0])).entity_id == 3
    assert pickle.loads(pickle.dumps(errors[1])).field == "revision"
    assert pickle.loads(pickle.dumps(errors[3])).role == "viewer"
    assert isinstance(errors[0], LookupError)
