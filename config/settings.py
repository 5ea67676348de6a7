"""Settings: environment variables over `config/defaults.toml` (and an optional `config/local.toml`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from domain.models import RecoveryPolicy

CONFIG_DIR = Path(__file__).resolve().parent
Role = Literal["engineer", "supervisor", "rep", "auditor"]
ROLES: tuple[Role, ...] = ("engineer", "supervisor", "rep", "auditor")


# defaults.toml's stand-ins for the embedded local phone: never real credentials for TWILIO_MODE=live
_LOCAL_ONLY_VALUES = {
    "twilio_account_sid": "AClocal00000000000000000000000000",
    "twilio_auth_token": "embedded-dev-twilio-token",
}


class ConfigError(Exception):
    """One clear line naming what is missing or wrong."""


class ApiToken(BaseModel):
    role: Role
    user: str


class CalendarHours(BaseModel):
    open_days: tuple[int, ...] = (0, 1, 2, 3, 4)
    opens: str = "09:00"
    closes: str = "17:00"
    slot_minutes: int = Field(default=30, gt=0)


class RateLimits(BaseModel):
    """Activities per second each provider's task queue may run (across all workers)."""

    twilio: float = Field(default=50.0, gt=0)
    sendgrid: float = Field(default=50.0, gt=0)
    gift_cards: float = Field(default=1.0, gt=0)  # Tango Card RaaS: 1 request a second


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_nested_delimiter="__",
        case_sensitive=False,
        extra="ignore",
        toml_file=[CONFIG_DIR / "defaults.toml", CONFIG_DIR / "local.toml"],
    )

    var_dir: Path = Path("var")
    database_url: str = ""
    temporal_address: str | None = None
    temporal_namespace: str = "default"
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    task_queue: str = "makeright"
    web_host: str = "127.0.0.1"
    web_port: int = 8000
    public_base_url: str = ""

    events_signing_secret: str = ""

    twilio_mode: Literal["local", "live"] = "local"
    twilio_api_base_url: str = "https://api.twilio.com"
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_from_number: str = ""

    sendgrid_mode: Literal["local", "live"] = "local"
    sendgrid_api_base_url: str = "https://api.sendgrid.com"
    sendgrid_api_key: str = ""
    sendgrid_from_email: str = ""
    # the event webhook's verification key (base64 ECDSA P-256 public key from SendGrid's settings)
    sendgrid_webhook_public_key: str = ""

    gift_card_mode: Literal["local"] = "local"

    api_tokens: str = ""

    checkin_prompt_lead_minutes: int = 0
    checkin_listen_minutes: int = 60

    # a console login lasts this long (logging out ends it sooner)
    console_session_minutes: int = Field(default=480, gt=0)

    calendar: CalendarHours = CalendarHours()
    rate_limits: RateLimits = RateLimits()
    policy: RecoveryPolicy = RecoveryPolicy()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        prefixed = EnvSettingsSource(
            settings_cls, env_prefix="MAKERIGHT_", env_nested_delimiter="__", case_sensitive=False
        )
        # bare names win over MAKERIGHT_ ones, both over the toml defaults
        return init_settings, env_settings, prefixed, TomlConfigSettingsSource(settings_cls)

    @model_validator(mode="after")
    def _derived_defaults(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.var_dir.resolve() / 'makeright.db'}"
        if not self.public_base_url:
            self.public_base_url = f"http://127.0.0.1:{self.web_port}"
        self.public_base_url = self.public_base_url.rstrip("/")
        return self

    # ------------------------------------------------------------ derived views

    @property
    def embedded_temporal(self) -> bool:
        return not self.temporal_address

    @property
    def temporal_target(self) -> str:
        return self.temporal_address or f"127.0.0.1:{self.temporal_port}"

    def tokens(self) -> dict[str, ApiToken]:
        """`role:token` or `role:user:token`, comma-separated; the user defaults to the role's name."""
        parsed: dict[str, ApiToken] = {}
        for entry in filter(None, (e.strip() for e in self.api_tokens.split(","))):
            parts = entry.split(":")
            if len(parts) == 2:
                role, token = parts
                user = role
            elif len(parts) == 3:
                role, user, token = parts
            else:
                raise ConfigError("API_TOKENS: each entry must be role:token or role:user:token")
            if not token.strip() or not user.strip():
                # an empty token would let `Authorization: Bearer ` in with this role
                raise ConfigError(f"API_TOKENS: an entry for role {role!r} has an empty token or user")
            if role not in ROLES:
                raise ConfigError(f"API_TOKENS: unknown role {role!r} (roles: {', '.join(ROLES)})")
            parsed[token] = ApiToken(role=role, user=user)
        return parsed

    def missing(self) -> list[str]:
        """Names of settings that the chosen modes need but that are empty."""
        needed: list[str] = ["EVENTS_SIGNING_SECRET"]
        if self.twilio_mode == "live":
            needed += ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER", "TWILIO_API_BASE_URL"]
        else:
            needed += ["TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER"]  # the local phone signs its answers
        if self.sendgrid_mode == "live":
            needed += ["SENDGRID_API_KEY", "SENDGRID_FROM_EMAIL", "SENDGRID_API_BASE_URL"]

        def absent(name: str) -> bool:
            value = getattr(self, name.lower())
            stand_in = self.twilio_mode == "live" and _LOCAL_ONLY_VALUES.get(name.lower()) == value
            return not value or stand_in

        return [name for name in needed if absent(name)]

    def check(self) -> Settings:
        missing = self.missing()
        if missing:
            modes = f"TWILIO_MODE={self.twilio_mode}, SENDGRID_MODE={self.sendgrid_mode}"
            raise ConfigError(f"missing setting {missing[0]} (needed with {modes})")
        self.tokens()
        return self


def load_settings() -> Settings:
    """Settings from the environment and toml files, checked. Raises ConfigError with one line."""
    from pydantic import ValidationError

    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "__".join(str(p) for p in first["loc"]).upper()
        raise ConfigError(f"invalid setting {name}: {first['msg']}") from None
    return settings.check()
