"""Service settings (environment variables ``KASUHARA_*``), validated at start."""
from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from typing import Annotated, Literal


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KASUHARA_", extra="ignore")

    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list,
                                                     description="comma-separated API keys; empty = local mode")
    database_url: str = "sqlite:///kasuhara.db"
    model_path: str | None = None
    policy_path: str | None = None
    cascade: bool = False  # GiNZA on flagged messages: adds demands/targets, ~50 ms each
    max_text_chars: int = Field(20_000, ge=100, le=1_000_000)
    max_batch_items: int = Field(256, ge=1, le=10_000)
    max_body_bytes: int = Field(2_000_000, ge=10_000)
    store_text: bool = False  # keep raw text in the store (personal data): off by default
    retention_days: int = Field(90, ge=1)
    rate_limit_per_minute: int = Field(600, ge=1)
    redis_url: str | None = None  # shared rate limits across workers / replicas when set
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    request_timeout_s: float = Field(10.0, gt=0)
    micro_batch: int = Field(32, ge=1, le=256)  # messages per engine call: concurrent /v1/score requests, batch items
    log_level: Literal["debug", "info", "warning", "error"] = "warning"  # request lines are info

    # ticketing webhooks (service/webhooks.py): an endpoint answers 404 until its secret is set
    zendesk_signing_secret: str | None = None
    zendesk_base_url: str | None = None  # push-back (tags) needs base URL + email + API token
    zendesk_email: str | None = None
    zendesk_token: str | None = None
    zammad_secret: str | None = None
    zammad_base_url: str | None = None  # push-back (tags) needs base URL + token
    zammad_token: str | None = None
    webhook_max_age_s: int = Field(300, ge=30)  # Zendesk signature timestamp window, either way

    # agent console and ticket widget (service/console.py)
    frame_ancestors: str = Field("'self'", pattern=r"^[^;,\r\n]+$",
                                 description="CSP frame-ancestors of /widget, e.g. 'self' https://example.zendesk.com")
    badge_secret: str | None = None  # signs /badge/{ticket}.svg URLs; required for the badge when keys are set

    # model registry (models/registry.py): serve its current version, switch on promotion
    registry: str | None = None  # registry folder; unset = serve model_path, no switching
    registry_poll_s: float = Field(5.0, gt=0, le=3600)  # how often the current pointer is checked

    @field_validator("api_keys", "cors_origins", mode="before")
    @classmethod
    def _split(cls, v):
        if v is None:
            return []
        if isinstance(v, str):
            return [x.strip() for x in v.split(",") if x.strip()]
        return v
