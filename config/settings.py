"""Settings: environment variables over `config/defaults.toml` (and an optional `config/local.toml`)."""

from __future__ import annotations

import contextlib
import os
import tomllib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from config.private import private_dir
from domain import phones
from domain.policy import RecoveryPolicy
from domain.root_causes import RootCause
from domain.routing import RoutingPolicy
from encryption.codec import CodecKeyError, KeyRing, new_key_spec, parse_keys
from encryption.derived import derived, derived_all

CONFIG_DIR = Path(__file__).resolve().parent
Role = Literal["engineer", "supervisor", "rep", "auditor"]
ROLES: tuple[Role, ...] = ("engineer", "supervisor", "rep", "auditor")
# roles whose tokens act as a person (claim, approve, see a claimed patient's number): role:user:token only
PERSONAL_ROLES: tuple[Role, ...] = ("supervisor", "rep")


# defaults.toml as shipped: anybody can read these values in the repository, so only a laptop may run
# with its secrets (read from the file itself, so the two cannot drift apart)
_SHIPPED = tomllib.loads((CONFIG_DIR / "defaults.toml").read_text())
# the stand-ins for the embedded local phone: never real credentials for TWILIO_MODE=live
_LOCAL_ONLY_VALUES = {name: _SHIPPED[name] for name in ("twilio_account_sid", "twilio_auth_token")}


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


class BodyLimits(BaseModel):
    """Request bodies, in bytes, per kind of route (BODY_LIMITS__FORMS=…): enforced while they stream in,
    before a route reads them (web/body_limit.py has the table of path prefixes)."""

    events: int = Field(default=256 * 1024, gt=0)  # POST /events
    webhooks: int = Field(default=256 * 1024, gt=0)  # /webhooks/… (SendGrid's event batches: 1 MiB)
    forms: int = Field(default=16 * 1024, gt=0)  # sign-in, the patient's links, console actions
    # POST /webhooks/sendgrid/inbound: SendGrid posts up to 30 MB; a patient's reply needs far less
    # (attachments are dropped with a note, never kept)
    inbound_email: int = Field(default=2 * 1024 * 1024, gt=0)
    codec: int = Field(default=4 * 1024 * 1024, gt=0)  # /codec: the Temporal UI decodes a history's payloads
    default: int = Field(default=1024 * 1024, gt=0)  # every other route


class WorkerLimits(BaseModel):
    """What one worker process takes on at once (WORKER__MAX_CACHED_WORKFLOWS=…), measured with
    bench/memory.py (bench/RESULTS.md). A case waiting for its patient costs the worker nothing but its
    cache slot: cases out of the cache live in Temporal's history and are replayed on their next step."""

    # cases kept in memory between their steps (the sticky cache; the SDK's default is 1000). Bounded by
    # memory: ~100-240 KB a cached case over a ~120 MB idle worker, so 500 hold it near 240 MB however
    # many cases are open (243 MB measured with 10,000 waiting), under issue 11's 500 MB with room for a
    # burst's in-flight work. The cache only saves the replay of a short history (a few ms) on a case's
    # next step; the cases that need it are the few dozen mid-step at a time, not the thousands waiting.
    max_cached_workflows: int = Field(default=500, ge=0)
    # workflow tasks (a case's step decisions) run at once; the SDK sizes the thread pool that runs them by
    # it. They run under one GIL, so more slots only queue inside the process: the SDK's 100 is kept.
    # At most max_cached_workflows: a task needs its case in the cache, and the SDK holds back a task while
    # the cache is full.
    max_concurrent_workflow_tasks: int = Field(default=100, ge=2)
    # activities run at once on each of the worker's task queues (the store's and each provider's); the
    # SDK's 100 is kept. Their blocking calls share the worker's 20 threads (worker.ACTIVITY_THREADS, one
    # per pooled database connection), so that, not this, is what bounds the store's concurrency.
    max_concurrent_activities: int = Field(default=100, ge=1)
    max_concurrent_local_activities: int = Field(default=100, ge=1)
    # workflows run in the SDK's sandbox, which stops a workflow that reads the clock, does I/O or imports
    # what it must not, as it happens. The price is CPU: every workflow task and every payload's
    # serialization context goes through it (bench/throughput.py: ~17 % of the worker's CPU per case,
    # 0.162 → 0.135 s). Off (WORKER__SANDBOX=false) the same checks are left to the suite, which runs every
    # workflow in the sandbox and replays the recorded histories; on by default.
    sandbox: bool = True

    @model_validator(mode="after")
    def _tasks_fit_the_cache(self) -> WorkerLimits:
        cache, tasks = self.max_cached_workflows, self.max_concurrent_workflow_tasks
        if cache and tasks > cache:
            raise PydanticCustomError(
                "worker_limits",
                "max_concurrent_workflow_tasks ({tasks}) must not exceed max_cached_workflows ({cache})",
                {"tasks": tasks, "cache": cache},
            )
        return self


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
    # TLS to the Temporal frontend: system CAs, a CA file, an mTLS client pair, a Temporal Cloud API key
    temporal_tls: bool = False
    temporal_tls_ca: str = ""
    temporal_tls_cert: str = ""
    temporal_tls_key: str = ""
    temporal_tls_server_name: str = ""
    temporal_api_key: str = ""
    # payload encryption: KEY_ID:BASE64_32_BYTES,… (the first encrypts, all decrypt)
    codec_keys: str = ""
    # who may call the codec server from a browser (default: the embedded Temporal UI)
    codec_cors_origins: str = ""
    task_queue: str = "makeright"
    web_host: str = "127.0.0.1"
    web_port: int = 8000
    # `make run` serves the web app from this many processes (uvicorn --workers); each runs its own relay
    web_processes: int = Field(default=1, ge=1)
    # `make run` runs this many full workers on the same task queues (0: one per core of the machine)
    worker_processes: int = Field(default=0, ge=0, le=64)
    # a web process acts on at most this many accepted events at once right after accepting them (the
    # inline dispatch); past that, and while Temporal does not answer, events wait for the relay instead
    inline_dispatch_limit: int = Field(default=8, ge=0)
    public_base_url: str = ""
    # the proxies (comma-separated IPs or networks, `*` for any) whose X-Forwarded-For names the client:
    # uvicorn's own setting, which the sign-in throttle counts addresses by; unlisted peers are the client
    forwarded_allow_ips: str = "127.0.0.1"

    events_signing_secret: str = ""
    # the web tier signs the actor of every escalation Update with it; the worker refuses an Update whose
    # actor is not signed (comma-separated: the first signs, every one verifies, so it can be rotated)
    update_signing_secret: str = ""

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
    # patients' replies by email: every email to a patient gets a Reply-To at this address, plus-addressed
    # with the case's token (care+<token>@reply.example.com); unset: no Reply-To
    inbound_email_address: str = ""
    # the password of SendGrid Inbound Parse's HTTP Basic auth (POST /webhooks/sendgrid/inbound); unset:
    # every inbound post is refused
    sendgrid_inbound_token: str = ""

    gift_card_mode: Literal["local", "tango"] = "local"
    # GIFT_CARD_MODE=local: the key the local cards' numbers are derived with (HMAC-SHA256 of the order)
    gift_card_secret: str = ""
    # Tango Card RaaS v2 (GIFT_CARD_MODE=tango): production is https://api.tangocard.com/raas/v2
    tango_api_base_url: str = "https://integration-api.tangocard.com/raas/v2"
    tango_platform_name: str = ""
    tango_platform_key: str = ""
    tango_account_identifier: str = ""
    tango_customer_identifier: str = ""
    tango_utid: str = ""  # the reward ordered (a link reward in the compensation's currency)

    api_tokens: str = ""

    checkin_prompt_lead_minutes: int = 0
    checkin_listen_minutes: int = 60

    # problem tickets: the case store always; mirrored to Jira Cloud or GitHub Issues when chosen
    tracker_mode: Literal["local", "jira", "github"] = "local"
    jira_base_url: str = ""
    jira_email: str = ""
    jira_api_token: str = ""
    jira_project_key: str = ""
    jira_issue_type: str = "Bug"
    # the transitions tried, in order, to reopen a Done issue (names as the project's workflow has them)
    jira_reopen_transitions: str = "Reopen,To Do"
    github_api_base_url: str = "https://api.github.com"
    github_token: str = ""
    github_repository: str = ""  # owner/name
    # the causes a case may close with (a rep picks one, or "other" with words of their own)
    root_causes: tuple[RootCause, ...] = ()

    # a console login lasts this long (logging out ends it sooner)
    console_session_minutes: int = Field(default=480, gt=0)

    # Operations (metrics, logs, traces): GET /metrics wants this bearer token when set; the worker serves
    # its Temporal SDK metrics on this port (0: off); LOG_FORMAT=json writes JSON lines; traces go over
    # OTLP to this endpoint when set (the standard OTEL_* variables apply), off otherwise
    metrics_token: str = ""
    worker_metrics_port: int = Field(default=0, ge=0, le=65535)
    # the interface it binds: this machine only unless set (0.0.0.0: every interface)
    worker_metrics_host: str = Field(default="127.0.0.1", min_length=1)
    log_format: Literal["text", "json"] = "text"
    otel_exporter_otlp_endpoint: str = ""
    # the wall (GET /wall): a case's first message should reach the patient within this many seconds
    first_contact_sla_seconds: int = Field(default=600, gt=0)

    calendar: CalendarHours = CalendarHours()
    rate_limits: RateLimits = RateLimits()
    body_limits: BodyLimits = BodyLimits()
    worker: WorkerLimits = WorkerLimits()
    policy: RecoveryPolicy = RecoveryPolicy()
    # reps on duty: offers, misses, wrap-up, which escalations ring a rep (ROUTING__*)
    routing: RoutingPolicy = RoutingPolicy()

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

    @field_validator("policy")
    @classmethod
    def _staff_phones(cls, policy: RecoveryPolicy) -> RecoveryPolicy:
        """The on-call numbers enter here: parsed once like every phone number (domain.phones), E.164 on."""
        levels = []
        for level in policy.escalation.levels:
            if level.notify_sms is not None:
                try:
                    level = level.model_copy(update={"notify_sms": phones.normalise(level.notify_sms)})
                except phones.PhoneError as exc:
                    raise PydanticCustomError(
                        "phone_number",
                        "escalation level {level} notify_sms {number} {reason}",
                        {"level": level.name, "number": repr(level.notify_sms), "reason": str(exc)},
                    ) from None
            levels.append(level)
        escalation = policy.escalation.model_copy(update={"levels": tuple(levels)})
        return policy.model_copy(update={"escalation": escalation})

    @field_validator("github_repository")
    @classmethod
    def _owner_name(cls, value: str) -> str:
        value = value.strip()
        if value and (value.count("/") != 1 or not all(value.split("/"))):
            raise PydanticCustomError("repository", "must be owner/name, got {value}", {"value": repr(value)})
        return value

    def reopen_transitions(self) -> list[str]:
        return [name.strip() for name in self.jira_reopen_transitions.split(",") if name.strip()]

    @model_validator(mode="after")
    def _derived_defaults(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.var_dir.resolve() / 'makeright.db'}"
        if not self.public_base_url:
            self.public_base_url = f"http://127.0.0.1:{self.web_port}"
        self.public_base_url = self.public_base_url.rstrip("/")
        if not self.codec_cors_origins:
            ui = self.temporal_ui_port
            self.codec_cors_origins = f"http://127.0.0.1:{ui},http://localhost:{ui}"
        # the cases' escalations ring reps by the floor's rules (ROUTING__*), carried in their input
        self.policy = self.policy.model_copy(update={"routing": self.routing})
        return self

    # ------------------------------------------------------------ derived views

    @property
    def embedded_temporal(self) -> bool:
        return not self.temporal_address

    def production_reasons(self) -> list[str]:
        """Why real patients, money or tickets may be involved, one phrase each (empty: the fully embedded
        mode of `make run`): Temporal is not the embedded dev server, or any provider is a real one."""
        reasons = ["TEMPORAL_ADDRESS is set"] if not self.embedded_temporal else []
        modes = (
            ("TWILIO_MODE", self.twilio_mode),
            ("SENDGRID_MODE", self.sendgrid_mode),
            ("GIFT_CARD_MODE", self.gift_card_mode),
            ("TRACKER_MODE", self.tracker_mode),
        )
        reasons += [f"{name}={mode}" for name, mode in modes if mode != "local"]
        return reasons

    @property
    def production(self) -> bool:
        """Real patients, money or tickets may be involved (`production_reasons`). Then nothing falls back
        to a dev default and the local phone is not mounted."""
        return bool(self.production_reasons())

    def local_phone(self) -> tuple[bool, str]:
        """Whether the web app mounts the local phone (`/dev/phone`), and why, in words for the log.

        The phone signs Twilio webhooks as any patient for whoever can open it, without a login: only
        in the fully embedded mode (`production` is false), where no real patient can be reached."""
        reasons = self.production_reasons()
        if not reasons:
            return True, "the fully embedded mode (no TEMPORAL_ADDRESS, every provider local)"
        return False, f"not the embedded mode ({', '.join(reasons)}); it is mounted only in the embedded mode"

    def key_ring(self) -> KeyRing:
        """CODEC_KEYS; in the embedded mode, a key generated once into VAR_DIR (so `make run` needs no
        set-up). Raises ConfigError with one line."""
        spec = self.codec_keys
        if not spec:
            if self.production:
                raise ConfigError(
                    "missing setting CODEC_KEYS (needed outside the embedded mode: KEY_ID:BASE64_32_BYTES)"
                )
            spec = local_codec_key(self.var_dir)
        try:
            return parse_keys(spec)
        except CodecKeyError as exc:
            raise ConfigError(f"invalid setting CODEC_KEYS: {exc}") from None

    def update_signing_secrets(self, ring: KeyRing | None = None) -> tuple[str, ...]:
        """UPDATE_SIGNING_SECRET (comma-separated): the first signs, all verify. Unset, one derived from
        each CODEC_KEYS key (which web and workers share anyway), the encrypting key's first. `ring`: the
        keys a process already read at start-up (else they are read now)."""
        secrets = tuple(s.strip() for s in self.update_signing_secret.split(",") if s.strip())
        return secrets or derived_all(ring or self.key_ring(), "update actor")

    def gift_card_key(self, ring: KeyRing | None = None) -> str:
        """GIFT_CARD_SECRET, the key of the local cards' numbers; unset, one derived from the first
        CODEC_KEYS key (`ring` as above)."""
        return self.gift_card_secret or derived((ring or self.key_ring()).current[1], "gift card number")

    def codec_origins(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.codec_cors_origins.split(",") if o.strip()]

    @property
    def temporal_target(self) -> str:
        return self.temporal_address or f"127.0.0.1:{self.temporal_port}"

    def tokens(self) -> dict[str, ApiToken]:
        """`role:token` or `role:user:token`, comma-separated; the user defaults to the role's name
        (CONTRACT.md). Outside the embedded mode a rep or supervisor entry must name its user."""
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
            if len(parts) == 2 and role in PERSONAL_ROLES and self.production:
                # a shared `rep:token` makes every holder the same user: claims, approvals and the
                # contact details a claim reveals would all be one person's (named by role, never token)
                raise ConfigError(
                    f"API_TOKENS: a {role} entry must name its user ({role}:USER:TOKEN): "
                    "every rep and supervisor acts as themselves"
                )
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
        if self.gift_card_mode == "tango":
            needed += [
                "TANGO_API_BASE_URL",
                "TANGO_PLATFORM_NAME",
                "TANGO_PLATFORM_KEY",
                "TANGO_ACCOUNT_IDENTIFIER",
                "TANGO_CUSTOMER_IDENTIFIER",
                "TANGO_UTID",
            ]
        if self.tracker_mode == "jira":
            needed += ["JIRA_BASE_URL", "JIRA_EMAIL", "JIRA_API_TOKEN", "JIRA_PROJECT_KEY", "JIRA_ISSUE_TYPE"]
        elif self.tracker_mode == "github":
            needed += ["GITHUB_API_BASE_URL", "GITHUB_TOKEN", "GITHUB_REPOSITORY"]

        def absent(name: str) -> bool:
            value = getattr(self, name.lower())
            stand_in = self.twilio_mode == "live" and _LOCAL_ONLY_VALUES.get(name.lower()) == value
            return not value or stand_in

        return [name for name in needed if absent(name)]

    def check(self) -> Settings:
        """Everything start-up needs, in one line: what the chosen modes miss and, outside the embedded
        mode, every embedded dev default still in place (so one failed start names all of them)."""
        problems: list[str] = []
        missing = self.missing()
        if missing:
            modes = f"TWILIO_MODE={self.twilio_mode}, SENDGRID_MODE={self.sendgrid_mode}"
            if self.gift_card_mode != "local":
                modes += f", GIFT_CARD_MODE={self.gift_card_mode}"
            if self.tracker_mode != "local":
                modes += f", TRACKER_MODE={self.tracker_mode}"
            noun = "setting" if len(missing) == 1 else "settings"
            problems.append(f"missing {noun} {', '.join(missing)} (needed with {modes})")
        if self.production:
            try:
                dev = [name for name in self.dev_defaults_in_use() if name not in missing]
            except ConfigError:
                dev = []  # a malformed API_TOKENS: self.tokens() below names it
            if dev:
                problems.append(
                    "refusing the embedded dev defaults outside the embedded mode "
                    f"({', '.join(self.production_reasons())}): set {', '.join(dev)}"
                )
            if not self.metrics_token:
                # unset, GET /metrics is open to anyone who can reach the web app
                problems.append("missing setting METRICS_TOKEN (needed outside the embedded mode)")
        if problems:
            raise ConfigError("; ".join(problems))
        self.tokens()
        self.key_ring()
        temporal_tls(self)
        return self

    def dev_defaults_in_use(self) -> list[str]:
        """Settings still holding the values from defaults.toml that anybody can read in the repository."""
        found = []
        if self.events_signing_secret == _SHIPPED["events_signing_secret"]:
            found.append("EVENTS_SIGNING_SECRET")
        dev_tokens = {entry.rsplit(":", 1)[-1] for entry in _SHIPPED["api_tokens"].split(",")}
        if dev_tokens & set(self.tokens()):
            found.append("API_TOKENS")
        if self.twilio_auth_token == _SHIPPED["twilio_auth_token"]:
            found.append("TWILIO_AUTH_TOKEN")
        if not self.codec_keys:
            found.append("CODEC_KEYS")
        return found


@dataclass(frozen=True)
class TemporalTls:
    """What the TEMPORAL_TLS_* settings hold, the files read (dispatch/connection.py makes the SDK's
    TLSConfig of it)."""

    server_root_ca_cert: bytes | None = None
    client_cert: bytes | None = None
    client_private_key: bytes | None = None
    domain: str | None = None


def _read(setting: str, path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{setting}: cannot read {path} ({exc.strerror})") from None


def temporal_tls(settings: Settings) -> TemporalTls | bool:
    """TEMPORAL_TLS (system CAs), TEMPORAL_TLS_CA, TEMPORAL_TLS_CERT + TEMPORAL_TLS_KEY (mTLS); an API key
    implies TLS. False: plain gRPC (the embedded dev server); True: TLS with the system's CAs. Raises
    ConfigError for half an mTLS pair or a file that cannot be read."""
    s = settings
    if s.temporal_tls_cert and not s.temporal_tls_key:
        raise ConfigError("missing setting TEMPORAL_TLS_KEY (TEMPORAL_TLS_CERT is set: mTLS needs both)")
    if s.temporal_tls_key and not s.temporal_tls_cert:
        raise ConfigError("missing setting TEMPORAL_TLS_CERT (TEMPORAL_TLS_KEY is set: mTLS needs both)")
    if not (s.temporal_tls or s.temporal_tls_ca or s.temporal_tls_cert or s.temporal_api_key):
        return False
    if not (s.temporal_tls_ca or s.temporal_tls_cert or s.temporal_tls_server_name):
        return True  # TLS with the system's CAs
    return TemporalTls(
        server_root_ca_cert=_read("TEMPORAL_TLS_CA", s.temporal_tls_ca) if s.temporal_tls_ca else None,
        client_cert=_read("TEMPORAL_TLS_CERT", s.temporal_tls_cert) if s.temporal_tls_cert else None,
        client_private_key=_read("TEMPORAL_TLS_KEY", s.temporal_tls_key) if s.temporal_tls_key else None,
        domain=s.temporal_tls_server_name or None,
    )


def local_codec_key(var_dir: Path) -> str:
    """The embedded mode's codec key: made once, kept in VAR_DIR/codec.key (owner-only), reused by every
    process so they all read each other's payloads.

    The key is written whole to a private temporary file first and then hard-linked into place, which
    fails if the name exists: two processes starting at once keep the first complete key, and a process
    that dies while writing leaves no empty or half-written codec.key behind to stop every later start."""
    path = var_dir / "codec.key"
    if not path.exists():
        private_dir(var_dir)
        tmp = var_dir / f".codec.key.{os.getpid()}.{uuid.uuid4().hex}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(new_key_spec("local-1") + "\n")
                out.flush()
                os.fsync(out.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    spec = path.read_text().strip()
    if not spec:
        raise ConfigError(f"invalid setting CODEC_KEYS: {path} is empty (delete it to make a new key)")
    return spec


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
