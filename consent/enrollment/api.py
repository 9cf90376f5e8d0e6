"""HTTP routes of cameo enrollment: parse, call one service function, return a response model."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["cameos"])
