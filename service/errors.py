"""The service's one error shape, ``{"error": {"code", "message"}}``, for the API and the webhooks."""
from __future__ import annotations

from fastapi.responses import JSONResponse


class ApiError(Exception):
    """A domain error answered with ``status`` and the error body (4xx, or 503 when the store is down)."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def error_response(status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)
