"""Configuration classes; every setting can be overridden by an environment variable.

`create_app("development" | "testing" | "production")` picks a class from `CONFIGS`; `FLASK_CONFIG`
chooses it for `wsgi.py`. Production validates itself in `Production.validate()` and refuses to
start with an unsafe setup.
"""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("INSTANCE_PATH", BASE_DIR / "instance"))
DEFAULT_SECRET_KEY = "dev-only-insecure-secret-key"  # noqa: S105 - refused by Production.validate


def env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


class Config:
    """Settings shared by every environment."""

    SECRET_KEY = env("SECRET_KEY", DEFAULT_SECRET_KEY)
    SQLALCHEMY_DATABASE_URI = env("DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'feelgood.db'}")
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
    SQLITE_BUSY_TIMEOUT_MS = env_int("SQLITE_BUSY_TIMEOUT_MS", 5000)

    # `make run` serves on PORT; links in emails and feeds follow it unless BASE_URL is set
    # (behind a proxy, or in production, where BASE_URL is required).
    PORT = env_int("PORT", 5000)
    BASE_URL = env("BASE_URL", f"http://127.0.0.1:{PORT}")
    TIMEZONE = env("TIMEZONE", "UTC")

    MAIL_BACKEND = env("MAIL_BACKEND", "file")
    MAIL_SERVER = env("MAIL_SERVER", "localhost")
    MAIL_PORT = env_int("MAIL_PORT", 25)
    MAIL_USE_TLS = env_bool("MAIL_USE_TLS", False)
    MAIL_USE_SSL = env_bool("MAIL_USE_SSL", False)
    MAIL_USERNAME = env("MAIL_USERNAME")
    MAIL_PASSWORD = env("MAIL_PASSWORD")
    MAIL_TIMEOUT = env_int("MAIL_TIMEOUT", 30)
    MAIL_DEFAULT_SENDER = env("MAIL_DEFAULT_SENDER", "Feel Good Fridays <feelgood@example.com>")
    MAIL_OUTBOX_DIR = env("MAIL_OUTBOX_DIR", str(INSTANCE_DIR / "outbox"))
    DEV_OUTBOX = False

    UPLOAD_DIR = env("UPLOAD_DIR", str(INSTANCE_DIR / "uploads"))
    # Largest profile photo accepted (bytes), from the profile form or the identity provider's
    # `picture` claim; stored as small square JPEGs under UPLOAD_DIR/photos (app.photos).
    PHOTO_MAX_BYTES = env_int("PHOTO_MAX_BYTES", 5 * 1024 * 1024)
    # The hard cap on a whole request body (abuse). It is well above the 5 MB cover-image limit
    # so that an oversized picture still arrives with the form: the story form then says how big
    # the picture is and keeps what the person typed (app.submissions.uploads).
    MAX_CONTENT_LENGTH = env_int("MAX_CONTENT_LENGTH", 16 * 1024 * 1024)
    # The largest people CSV an admin may upload (Admin → Users → Import people); that page
    # alone accepts a request body this large.
    PEOPLE_IMPORT_MAX_BYTES = env_int("PEOPLE_IMPORT_MAX_BYTES", 20 * 1000 * 1000)

    # The customer's voice (app/voice): the largest survey export an editor may upload (CSV or
    # XLSX), the largest webhook body, how old a signed webhook request may be (replays), and
    # the forwarded-email receiver (`flask voice inbox run`): the address employees forward
    # customers' emails to, where it listens, and the largest message it accepts.
    VOICE_IMPORT_MAX_BYTES = env_int("VOICE_IMPORT_MAX_BYTES", 50 * 1000 * 1000)
    VOICE_WEBHOOK_MAX_BYTES = env_int("VOICE_WEBHOOK_MAX_BYTES", 256 * 1024)
    VOICE_WEBHOOK_TOLERANCE_SECONDS = env_int("VOICE_WEBHOOK_TOLERANCE_SECONDS", 300)
    # Requests per minute one webhook source may send (all callers together); generous, since a
    # survey tool may re-deliver a backlog at once. Beyond it: 429 with Retry-After.
    VOICE_WEBHOOK_RATE_LIMIT = env("VOICE_WEBHOOK_RATE_LIMIT", "600 per minute")
    VOICE_INBOX_ADDRESS = env("VOICE_INBOX_ADDRESS", "voice@feelgood.example.com")
    VOICE_INBOX_HOST = env("VOICE_INBOX_HOST", "127.0.0.1")
    VOICE_INBOX_PORT = env_int("VOICE_INBOX_PORT", 2525)
    VOICE_INBOX_MAX_BYTES = env_int("VOICE_INBOX_MAX_BYTES", 10 * 1024 * 1024)
    SCHEDULER_VOICE_SECONDS = env_int("SCHEDULER_VOICE_SECONDS", 3600)
    # Countries whose national phone formats the redactor recognizes (ISO codes, in the order
    # tried); numbers written with +country code are recognized whatever this says.
    VOICE_PHONE_REGIONS = tuple(
        code.strip().upper()
        for code in str(env("VOICE_PHONE_REGIONS", "GB,US,FR,DE,ES,IT,NL,IN,AU,JP,BR")).split(",")
        if code.strip()
    )

    # Signed links: lifetimes in seconds.
    INVITE_TOKEN_MAX_AGE = env_int("INVITE_TOKEN_MAX_AGE", 7 * 24 * 3600)
    RESET_TOKEN_MAX_AGE = env_int("RESET_TOKEN_MAX_AGE", 2 * 3600)

    RATELIMIT_ENABLED = env_bool("RATELIMIT_ENABLED", True)
    RATELIMIT_STORAGE_URI = env("RATELIMIT_STORAGE_URI", "memory://")
    RATELIMIT_HEADERS_ENABLED = True
    LOGIN_RATE_LIMIT = env("LOGIN_RATE_LIMIT", "10 per minute")
    # "Download my data" (app/privacy): ZIPs per person and hour (building one reads everything).
    DATA_EXPORT_RATE_LIMIT = env("DATA_EXPORT_RATE_LIMIT", "5 per hour")
    # Requests per minute one SCIM token (or, without a token, one address) may make; generous,
    # since an identity provider's first sync sends one request per person and group.
    SCIM_RATE_LIMIT = env("SCIM_RATE_LIMIT", "1200 per minute")

    # Single sign-on (OpenID Connect, app/auth/sso.py): on when OIDC_ISSUER and OIDC_CLIENT_ID
    # are set. Lists are comma-separated; OIDC_ALLOWED_DOMAINS "*" trusts every domain.
    OIDC_ISSUER = env("OIDC_ISSUER")
    OIDC_CLIENT_ID = env("OIDC_CLIENT_ID")
    OIDC_CLIENT_SECRET = env("OIDC_CLIENT_SECRET")
    OIDC_SCOPES = env("OIDC_SCOPES", "openid email profile")
    OIDC_ALLOWED_DOMAINS = env("OIDC_ALLOWED_DOMAINS", "")
    OIDC_PROVIDER_NAME = env("OIDC_PROVIDER_NAME", "your company account")
    OIDC_TEAM_CLAIM = env("OIDC_TEAM_CLAIM", "")
    OIDC_GROUPS_CLAIM = env("OIDC_GROUPS_CLAIM", "groups")
    OIDC_EDITOR_GROUPS = env("OIDC_EDITOR_GROUPS", "")
    # Off only counts while SSO is on; admins keep /login?password=1 (break-glass).
    PASSWORD_LOGIN_ENABLED = env_bool("PASSWORD_LOGIN_ENABLED", True)

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
    REMEMBER_COOKIE_DURATION = env_int("REMEMBER_COOKIE_DAYS", 30) * 24 * 3600
    WTF_CSRF_TIME_LIMIT = None  # tied to the session instead; long forms must not expire

    # Newsletter sending and the scheduler process.
    NEWSLETTER_BATCH_SIZE = env_int("NEWSLETTER_BATCH_SIZE", 100)
    NEWSLETTER_MAX_ATTEMPTS = env_int("NEWSLETTER_MAX_ATTEMPTS", 5)
    NEWSLETTER_RETRY_BASE_SECONDS = env_int("NEWSLETTER_RETRY_BASE_SECONDS", 60)
    NEWSLETTER_RETRY_MAX_SECONDS = env_int("NEWSLETTER_RETRY_MAX_SECONDS", 3600)
    NEWSLETTER_CLAIM_TIMEOUT_SECONDS = env_int("NEWSLETTER_CLAIM_TIMEOUT_SECONDS", 300)
    # Mail server unreachable or refusing the session: the edition pauses (nobody is charged an
    # attempt) and is retried after a backoff; editors see a banner after the alert delay.
    NEWSLETTER_OUTAGE_RETRY_BASE_SECONDS = env_int("NEWSLETTER_OUTAGE_RETRY_BASE_SECONDS", 30)
    NEWSLETTER_OUTAGE_RETRY_MAX_SECONDS = env_int("NEWSLETTER_OUTAGE_RETRY_MAX_SECONDS", 300)
    NEWSLETTER_OUTAGE_ALERT_MINUTES = env_int("NEWSLETTER_OUTAGE_ALERT_MINUTES", 30)
    SCHEDULER_DELIVER_SECONDS = env_int("SCHEDULER_DELIVER_SECONDS", 15)
    SCHEDULER_HOUSEKEEPING_SECONDS = env_int("SCHEDULER_HOUSEKEEPING_SECONDS", 60)
    # Notification emails (mail_outbox): the scheduler sends what web processes did not.
    SCHEDULER_OUTBOX_SECONDS = env_int("SCHEDULER_OUTBOX_SECONDS", 10)
    MAIL_OUTBOX_KEEP_DAYS = env_int("MAIL_OUTBOX_KEEP_DAYS", 30)
    READING_CACHE_SECONDS = env_int("READING_CACHE_SECONDS", 300)

    # Domain events (app/events.py): subscribers run right after the commit; the scheduler
    # dispatches what a process left (after the delay) and retries failed subscribers.
    SCHEDULER_EVENTS_SECONDS = env_int("SCHEDULER_EVENTS_SECONDS", 10)
    EVENTS_DISPATCH_DELAY_SECONDS = env_int("EVENTS_DISPATCH_DELAY_SECONDS", 30)
    EVENTS_MAX_ATTEMPTS = env_int("EVENTS_MAX_ATTEMPTS", 8)
    EVENTS_RETRY_BASE_SECONDS = env_int("EVENTS_RETRY_BASE_SECONDS", 60)
    EVENTS_RETRY_MAX_SECONDS = env_int("EVENTS_RETRY_MAX_SECONDS", 3600)
    EVENTS_KEEP_DAYS = env_int("EVENTS_KEEP_DAYS", 14)
    # Notifications: the channels in use, comma-separated (app/notifications/channels/).
    NOTIFICATION_CHANNELS = env("NOTIFICATION_CHANNELS", "email")
    SCHEDULER_APPLAUSE_SECONDS = env_int("SCHEDULER_APPLAUSE_SECONDS", 300)
    APPLAUSE_EMAIL_HOURS = env_int("APPLAUSE_EMAIL_HOURS", 24)
    # Cover pictures no story uses (abandoned forms, replaced covers) are deleted a day old.
    SCHEDULER_UPLOADS_SECONDS = env_int("SCHEDULER_UPLOADS_SECONDS", 3600)

    # Slack / Teams destinations (app/chat): how often the scheduler posts what is waiting, how
    # long one post may take, how many tries over how long before a post is given up.
    SCHEDULER_CHAT_SECONDS = env_int("SCHEDULER_CHAT_SECONDS", 15)
    CHAT_TIMEOUT_SECONDS = env_int("CHAT_TIMEOUT_SECONDS", 10)
    CHAT_MAX_ATTEMPTS = env_int("CHAT_MAX_ATTEMPTS", 8)
    CHAT_RETRY_BASE_SECONDS = env_int("CHAT_RETRY_BASE_SECONDS", 30)
    CHAT_RETRY_MAX_SECONDS = env_int("CHAT_RETRY_MAX_SECONDS", 3600)
    # Posts that went out are kept this many days on the destination's page, then deleted
    # (failed ones stay until the destination is deleted).
    CHAT_KEEP_DAYS = env_int("CHAT_KEEP_DAYS", 90)

    # Readership (app/engagement): how long an "applaud from the email" link works, and how
    # often the scheduler anonymizes per-person events past the admin's retention period.
    APPLAUSE_LINK_MAX_AGE_DAYS = env_int("APPLAUSE_LINK_MAX_AGE_DAYS", 60)
    # Clicks and opens recorded per IP address (app/engagement/views.py); past the limit the
    # reader is still redirected / served the image, just not counted.
    ENGAGEMENT_RATE_LIMIT = env("ENGAGEMENT_RATE_LIMIT", "600 per minute")
    SCHEDULER_ENGAGEMENT_SECONDS = env_int("SCHEDULER_ENGAGEMENT_SECONDS", 3600)
    # Branding (Admin → Settings → Branding): the largest logo file accepted.
    BRAND_LOGO_MAX_BYTES = env_int("BRAND_LOGO_MAX_BYTES", 2 * 1024 * 1024)

    # The JSON API (app/api, /api/v1/): requests one token may make (flask-limiter syntax; the
    # answer carries RateLimit headers), and the page size of its lists when a client asks for
    # none (a client may ask for 1..200).
    API_RATE_LIMIT = env("API_RATE_LIMIT", "600 per minute")
    API_PAGE_SIZE = env_int("API_PAGE_SIZE", 50)

    # Outbound webhooks (app/webhooks): how often the scheduler sends what is waiting, how long
    # one request may take, the backoff between tries and how long a delivery is retried before
    # it is marked failed (a day), how long deliveries are kept on the admin page, and whether
    # endpoints must use https (off in development and tests, which use loopback servers).
    SCHEDULER_WEBHOOKS_SECONDS = env_int("SCHEDULER_WEBHOOKS_SECONDS", 15)
    WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 10)
    WEBHOOK_RETRY_BASE_SECONDS = env_int("WEBHOOK_RETRY_BASE_SECONDS", 30)
    WEBHOOK_RETRY_MAX_SECONDS = env_int("WEBHOOK_RETRY_MAX_SECONDS", 3 * 3600)
    WEBHOOK_RETRY_WINDOW_SECONDS = env_int("WEBHOOK_RETRY_WINDOW_SECONDS", 24 * 3600)
    WEBHOOK_KEEP_DAYS = env_int("WEBHOOK_KEEP_DAYS", 30)
    WEBHOOK_REQUIRE_HTTPS = env_bool("WEBHOOK_REQUIRE_HTTPS", False)

    LOG_LEVEL = env("LOG_LEVEL", "INFO")
    # Run it in production (issue 17). Logs: "text" (one readable line) or "json" (one JSON
    # object per line, the production default); the request id travels in REQUEST_ID_HEADER.
    LOG_FORMAT = env("LOG_FORMAT", "text")
    REQUEST_ID_HEADER = env("REQUEST_ID_HEADER", "X-Request-ID")
    SENTRY_DSN = env("SENTRY_DSN")  # error reporting with sentry-sdk when set
    SENTRY_ENVIRONMENT = env("SENTRY_ENVIRONMENT", "production")
    # The scheduler's heartbeat (a row per process) and when readiness calls it missing.
    SCHEDULER_HEARTBEAT_SECONDS = env_int("SCHEDULER_HEARTBEAT_SECONDS", 60)
    SCHEDULER_STALE_SECONDS = env_int("SCHEDULER_STALE_SECONDS", 300)
    # Prometheus /metrics: a bearer token and/or an allow-list of addresses (CIDR, comma-separated).
    METRICS_TOKEN = env("METRICS_TOKEN")
    METRICS_ALLOW = env("METRICS_ALLOW", "127.0.0.1/32,::1/128")
    SCHEDULER_METRICS_PORT = env_int("SCHEDULER_METRICS_PORT", 0)  # 0: no metrics port
    SCHEDULER_METRICS_HOST = env("SCHEDULER_METRICS_HOST", "127.0.0.1")
    # Backups (`flask backup`): the PostgreSQL client programs used.
    BACKUP_PG_DUMP = env("BACKUP_PG_DUMP", "pg_dump")
    BACKUP_PG_RESTORE = env("BACKUP_PG_RESTORE", "pg_restore")
    # Nightly housekeeping: retention of audit entries, delivery rows and per-person data.
    SCHEDULER_RETENTION_SECONDS = env_int("SCHEDULER_RETENTION_SECONDS", 24 * 3600)
    # Flask-Limiter: a prefix for the keys in shared storage (Redis) several apps may use.
    RATELIMIT_KEY_PREFIX = env("RATELIMIT_KEY_PREFIX", "fgf")
    # Shared storage unreachable: each process counts alone in memory until it answers again
    # (sign-in keeps working, still limited), and gives up on a silent Redis after a second
    # instead of hanging the request (docs/deployment.md, "Several instances").
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = env_bool("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    RATELIMIT_STORAGE_OPTIONS = {
        "socket_connect_timeout": env_int("RATELIMIT_STORAGE_TIMEOUT_SECONDS", 1),
        "socket_timeout": env_int("RATELIMIT_STORAGE_TIMEOUT_SECONDS", 1),
    }
    # Reverse proxies in front of the app that set X-Forwarded-For and -Proto (nginx: 1).
    # 0 trusts none: behind a proxy every visitor would share the proxy's address, and the
    # per-address rate limits (sign-in) would count the whole company as one visitor.
    PROXY_COUNT = env_int("PROXY_COUNT", 0)

    @classmethod
    def validate(cls) -> None:
        """Raise RuntimeError when the configuration is unsafe for this environment."""


class Development(Config):
    DEBUG = True
    DEV_OUTBOX = True


class Testing(Config):
    TESTING = True
    SQLALCHEMY_DATABASE_URI = env("TEST_DATABASE_URL", "sqlite://")
    MAIL_BACKEND = "memory"
    BASE_URL = "http://localhost"
    SERVER_NAME = None
    WTF_CSRF_ENABLED = False
    DEV_OUTBOX = True
    RATELIMIT_ENABLED = True


class Production(Config):
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    REMEMBER_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    PREFERRED_URL_SCHEME = "https"
    BASE_URL = env("BASE_URL")
    MAIL_BACKEND = env("MAIL_BACKEND", "smtp")
    WEBHOOK_REQUIRE_HTTPS = env_bool("WEBHOOK_REQUIRE_HTTPS", True)
    LOG_FORMAT = env("LOG_FORMAT", "json")

    @classmethod
    def validate(cls) -> None:
        problems = []
        if not cls.SECRET_KEY or cls.SECRET_KEY == DEFAULT_SECRET_KEY:
            problems.append("SECRET_KEY is missing or still the development default")
        if not cls.BASE_URL:
            problems.append("BASE_URL is not set (links in emails need an absolute address)")
        if cls.OIDC_ISSUER and not cls.OIDC_ALLOWED_DOMAINS:
            problems.append("OIDC_ALLOWED_DOMAINS is not set (single sign-on refuses everyone)")
        if problems:
            raise RuntimeError("Refusing to start in production: " + "; ".join(problems) + ".")


CONFIGS: dict[str, type[Config]] = {
    "development": Development,
    "testing": Testing,
    "production": Production,
}
