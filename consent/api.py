"""HTTP routes of the consent domain: parse, call one service function, return a response model."""

from __future__ import annotations

from fastapi import APIRouter

from consent.enrollment.api import router as enrollment_router

router = APIRouter(tags=["consent"])
router.include_router(enrollment_router)
