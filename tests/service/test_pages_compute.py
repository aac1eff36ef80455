"""The pages compute where the API does: with compute processes, interpreting, viewing the
interpretation, the what-if, the report preview and issuing the report (recomputation and PDF)
never run the engine in the web process, so a heavy case cannot stall every other request."""

from __future__ import annotations

import re
import secrets
import shutil
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from imatinib_tdm.service import Settings, create_app

from .conftest import PASSWORD, demo_case_json


@pytest.mark.slow
def test_pages_run_the_engine_and_the_pdf_in_the_compute_processes(
    tmp_path: Path, _template_database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copyfile(_template_database, tmp_path / "service.sqlite3")
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'service.sqlite3'}",
        secret_key=secrets.token_urlsafe(48),
        compute_processes=1,
    )
    calls: list[str] = []

    def recorded(name: str, original: Any) -> Any:
        def in_web_process(*args: Any, **kwargs: Any) -> Any:  # patched here, not in workers
            calls.append(name)
            return original(*args, **kwargs)

        return in_web_process

    import imatinib_tdm.service.compute as compute
    import imatinib_tdm.service.reporting as reporting

    monkeypatch.setattr(compute, "interpret", recorded("interpret", compute.interpret))
    monkeypatch.setattr(compute, "recommend_dose", recorded("what-if", compute.recommend_dose))
    monkeypatch.setattr(reporting, "html_to_pdf", recorded("pdf", reporting.html_to_pdf))
    with TestClient(create_app(settings)) as client:
        login = client.post(
            "/api/auth/login", json={"username": "pharmacologist", "password": PASSWORD}
        )
        token = login.json()["csrf_token"]
        client.headers["X-CSRF-Token"] = token
        patient = client.post(
            "/api/patients", json={"mrn": "POOL-1", "family_name": "Pool", "given_name": "Paula"}
        ).json()
        created = client.post(
            f"/api/patients/{patient['id']}/episodes", json={"label": "E", "case": demo_case_json()}
        )
        assert created.status_code == 201, created.text
        episode = created.json()
        page = f"/episodes/{episode['id']}"
        interpreted = client.post(
            f"{page}/interpret",
            data={"csrf_token": token, "model": "widmer2006_covariate"},
            follow_redirects=False,
        )
        assert interpreted.status_code == 303, interpreted.text
        shown = client.get(page)
        assert shown.status_code == 200 and "interpretation" in shown.text
        what_if = client.get(f"{page}/whatif")
        assert what_if.status_code == 200 and re.search(r"\d+ mg", what_if.text)
        assert client.get(f"{page}/report/preview").status_code == 200
        issued = client.post(f"{page}/reports", data={"csrf_token": token}, follow_redirects=False)
        assert issued.status_code == 303, issued.text
        reports = client.get(f"/api/episodes/{episode['id']}/reports").json()
        assert len(reports) == 1
    assert calls == []
