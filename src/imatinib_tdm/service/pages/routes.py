"""All page routers in one, for the app factory."""

from __future__ import annotations

from fastapi import APIRouter

from imatinib_tdm.service.pages import (
    account_pages,
    auth_pages,
    episode_pages,
    library_pages,
    patient_pages,
)

router = APIRouter(include_in_schema=False)
for _module in (auth_pages, patient_pages, episode_pages, library_pages):
    router.include_router(_module.router)
router.include_router(account_pages.router)  # /account, /users (admins)
