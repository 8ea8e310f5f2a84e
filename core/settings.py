"""The one settings module.

Everything comes from the environment with embedded defaults, so that a fresh
checkout runs with no servers: no DATABASE_URL means SQLite in the project
folder; no REDIS_URL means the in-memory channel layer, a local-memory cache,
database seat holds and the scheduler inside the server process.
"""

import ipaddress
import json
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

# Imported for its side effect: a malformed TOMBOLA_FAILPOINTS (fault tests only;
# core/failpoints.py) stops the process here, at start-up.
import core.failpoints  # noqa: F401

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


# The development key is public; core.conf.assert_safe_to_serve() refuses to
# serve with it unless DEBUG is on.
DEV_SECRET_KEY = "django-insecure-tombola-development-key-do-not-use-in-production"
SECRET_KEY = os.environ.get("SECRET_KEY") or DEV_SECRET_KEY
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
# Browsers' Origin for WebSockets and CSRF; empty means "same as ALLOWED_HOSTS".
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
WEBSOCKET_ALLOWED_ORIGINS = env_list("WEBSOCKET_ALLOWED_ORIGINS")
# Browser apps on other origins (a single-page app, a mobile web view) that may call
# /api/: full origins, e.g. "https://app.example.com". Empty: no cross-origin calls.
# The WebSocket origin check accepts them too (consumers/middleware.py).
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS")
CORS_URLS_REGEX = r"^/api/.*$"
# Bearer tokens, not cookies: no credentials mode needed.
CORS_ALLOW_CREDENTIALS = False
CORS_ALLOW_HEADERS = ("accept", "authorization", "content-type", "idempotency-key",
                      "x-request-id", "accept-language")
CORS_EXPOSE_HEADERS = ("x-request-id", "idempotent-replayed", "retry-after")
CORS_PREFLIGHT_MAX_AGE = env_int("CORS_PREFLIGHT_MAX_AGE", 600)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    # Swagger UI and ReDoc from our own static files: /api/docs/ works offline.
    "drf_spectacular_sidecar",
    "django_filters",
    "corsheaders",
    "channels",
    "core",
    "ticketing",
    "live",
    "consumers",
    "demo",  # last: seed_demo writes through every app above
]

MIDDLEWARE = [
    # First: every later line logged for the request carries its id (core/requestlog.py).
    "core.requestlog.request_id_middleware",
    # Before anything that answers by itself: its answers get the CORS headers too.
    "corsheaders.middleware.CorsMiddleware",
    # Every /api/ answer is JSON, errors raised by the framework included (core/errors.py).
    "core.errors.api_json_errors",
    "core.metrics.MetricsMiddleware",
    # Before anything reads the path or the query: a NUL byte is a 400, never a 500.
    "core.middleware.refuse_nul_bytes",
    # Links in emails and proofs use the address the request came in on (core/links.py).
    "core.links.remember_request",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language from Accept-Language (en, ru): no query, on both chains (core/i18n.py).
    "core.i18n.choose_language",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
# A request to /api/ that carries a bearer token needs no browser state: the
# HTTP pool (core/http.py) serves it through a chain without these.
BROWSER_MIDDLEWARE = {
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
}
TOKEN_API_MIDDLEWARE = [m for m in MIDDLEWARE if m not in BROWSER_MIDDLEWARE]

ROOT_URLCONF = "core.urls"
ASGI_APPLICATION = "core.asgi.application"
WSGI_APPLICATION = None
# The Prizy client calls /api/events without a slash; our URL patterns accept
# both forms, so never redirect (a redirected POST loses its body).
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASE_URL = os.environ.get("DATABASE_URL", "")
# HTTP requests run on a fixed pool of HTTP_THREADS threads per worker (core/http.py;
# HTTP_HANDLER=asgi selects Django's ASGIHandler instead, for measurement). On
# PostgreSQL their connections come from the worker's pool (DB_POOL, below). With
# DB_POOL=0 (or on SQLite) each thread keeps its own connection for DB_CONN_MAX_AGE
# seconds: at most HTTP_THREADS + 2 connections per worker (the pool, the consumers'
# one database thread, the in-process scheduler). Either way a health check before a
# connection's reuse replaces one a PostgreSQL restart broke. Under HTTP_HANDLER=asgi
# every request has a new thread, so keep DB_CONN_MAX_AGE=0 there (or the pool on).
HTTP_HANDLER = os.environ.get("HTTP_HANDLER", "pool")
if HTTP_HANDLER not in {"pool", "asgi"}:
    raise ImproperlyConfigured(f"HTTP_HANDLER must be 'pool' or 'asgi', not {HTTP_HANDLER!r}")
HTTP_THREADS = int(os.environ.get("HTTP_THREADS", "8"))
DB_CONN_MAX_AGE = int(os.environ.get("DB_CONN_MAX_AGE", "0" if HTTP_HANDLER == "asgi" else "600"))
# SQLite, however it is configured: wait for a writer instead of failing at once with
# "database is locked", and take the write lock when a transaction starts (IMMEDIATE),
# so that a read-then-write transaction waits its turn instead of failing when it
# upgrades its lock. Options in a DATABASE_URL's query string win.
SQLITE_OPTIONS = {"timeout": 20, "transaction_mode": "IMMEDIATE"}


def database_settings(url: str, *, conn_max_age: int, sqlite_path: str) -> dict:
    """DATABASES["default"] from DATABASE_URL (empty: SQLite at sqlite_path)."""
    if url:
        config = dj_database_url.parse(url, conn_max_age=conn_max_age, conn_health_checks=True)
    else:
        config = {"ENGINE": "django.db.backends.sqlite3", "NAME": sqlite_path,
                  "CONN_MAX_AGE": conn_max_age}
    if config["ENGINE"].endswith("sqlite3"):
        config["OPTIONS"] = {**SQLITE_OPTIONS, **config.get("OPTIONS", {})}
    return config


# PostgreSQL connections come from a pool per worker process (psycopg's, Django's
# OPTIONS["pool"]): a request takes one at its first query and gives it back when it
# ends, so a worker holds at most DB_POOL_MAX_SIZE connections however many threads
# it runs (docs/decisions/2026-11-30-postgres-pool.md). DB_POOL=0 keeps one persistent
# connection per thread instead (DB_CONN_MAX_AGE). PgBouncer in transaction mode can
# sit behind either: DATABASE_URL names its port (docs/scaling.md).
DB_POOL = env_bool("DB_POOL", True)
DB_POOL_OPTIONS = {
    "min_size": env_int("DB_POOL_MIN_SIZE", 2),
    # One per HTTP thread by default: fewer made a sale's requests queue for a connection
    # while holding none of PostgreSQL's time (bench/hold_contention.py: 88 holds/s with 6
    # against 100 with one per thread; docs/decisions/2026-11-30-postgres-pool.md).
    "max_size": env_int("DB_POOL_MAX_SIZE", HTTP_THREADS),
    # A request waits this long for a free connection, then fails (a 503, core/errors.py).
    "timeout": env_int("DB_POOL_TIMEOUT", 10),
}


def postgres_pooled(config: dict) -> dict:
    """A PostgreSQL settings dict with the pool on (DB_POOL): no persistent connections."""
    if not DB_POOL or not config["ENGINE"].endswith("postgresql"):
        return config
    options = {**config.get("OPTIONS", {}), "pool": dict(DB_POOL_OPTIONS)}
    return {**config, "CONN_MAX_AGE": 0, "OPTIONS": options}


DATABASES = {
    "default": postgres_pooled(database_settings(
        DATABASE_URL, conn_max_age=DB_CONN_MAX_AGE,
        sqlite_path=os.environ.get("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")))),
}
USING_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")

# A PostgreSQL streaming replica for the read-only selectors that ask for it
# (core/replica.py; docs/scaling.md lists them). Writes, locks, reads inside a
# transaction and the stream snapshots stay on the primary. A replica read waits at
# most REPLICA_MAX_WAIT_SECONDS for the replica to replay what the primary had
# committed when the read began, then goes to the primary, and the replica is left
# alone for REPLICA_RETRY_SECONDS (down or lagging).
DATABASE_REPLICA_URL = os.environ.get("DATABASE_REPLICA_URL", "")
REPLICA_MAX_WAIT_SECONDS = float(os.environ.get("REPLICA_MAX_WAIT_SECONDS", "0.2"))
REPLICA_RETRY_SECONDS = float(os.environ.get("REPLICA_RETRY_SECONDS", "5"))
if DATABASE_REPLICA_URL:
    if not USING_POSTGRES:
        raise ImproperlyConfigured("DATABASE_REPLICA_URL needs a PostgreSQL DATABASE_URL")
    _replica = postgres_pooled(database_settings(
        DATABASE_REPLICA_URL, conn_max_age=DB_CONN_MAX_AGE, sqlite_path=""))
    # A replica that is down must not hold a request for long: fall back soon.
    _replica["OPTIONS"] = {"connect_timeout": 2, **_replica.get("OPTIONS", {})}
    if "pool" in _replica["OPTIONS"]:
        _replica["OPTIONS"]["pool"] = {**_replica["OPTIONS"]["pool"], "timeout": 2}
    # Tests: the replica replays the primary's test database; Django neither creates
    # nor flushes it, and points the alias at the test database's name.
    _replica["TEST"] = {"MIRROR": "default"}
    DATABASES["replica"] = _replica
    DATABASE_ROUTERS = ["core.replica.PrimaryReplicaRouter"]

# Redis is optional; when present it carries the channel layer, the cache
# (throttles), stream history, seat holds and the waitlist ranking.
REDIS_URL = os.environ.get("REDIS_URL", "")
# A Redis Cluster: REDIS_URL=redis+cluster://host:port,host:port,... or the nodes as
# REDIS_CLUSTER_URLS=redis://host:port,redis://host:port (any reachable node will do;
# the client discovers the rest). Every key the project writes carries a hash tag, so
# each script and MULTI touches one slot (docs/decisions/2026-11-30-redis-cluster.md).
REDIS_CLUSTER_URLS = os.environ.get("REDIS_CLUSTER_URLS", "")
if REDIS_CLUSTER_URLS and not REDIS_URL:
    REDIS_URL = "redis+cluster://" + ",".join(
        url.strip().split("://", 1)[-1].rstrip("/") for url in REDIS_CLUSTER_URLS.split(",")
        if url.strip())
REDIS_CLUSTER = REDIS_URL.startswith("redis+cluster://")
# Every key the project writes to Redis starts with this, so that several
# deployments (or test runs) can share one server.
REDIS_PREFIX = os.environ.get("REDIS_PREFIX", "tombola")

if REDIS_CLUSTER:
    # channels-redis speaks to single servers only (its BZPOPMIN and group sets would be
    # answered MOVED by a cluster). The relay (STREAM_FANOUT=relay) sends nothing across
    # processes through the channel layer, so each process keeps an in-memory one for
    # its consumers' channel names; "group" fan-out is refused below.
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {
        "default": {
            "BACKEND": "core.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"{REDIS_PREFIX}:cache",
        }
    }
elif REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_URL],
                "prefix": f"{REDIS_PREFIX}:asgi",
                "capacity": env_int("CHANNEL_CAPACITY", 1000),
                "expiry": 60,
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "core.cache.RedisCache",  # Django's, one redis-py client per pool
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"{REDIS_PREFIX}:cache",
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_USER_MODEL = "core.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# The languages we ship (locale/<code>/LC_MESSAGES/django.po): the API answers in the one
# Accept-Language asks for, screens and messages in their event's `language`.
LANGUAGES = [("en", "English"), ("ru", "Русский")]
LANGUAGE_CODE = os.environ.get("LANGUAGE_CODE", "en")
if LANGUAGE_CODE not in dict(LANGUAGES):
    raise ImproperlyConfigured(f"LANGUAGE_CODE must be one of {', '.join(dict(LANGUAGES))}, "
                               f"not {LANGUAGE_CODE!r}")
LOCALE_PATHS = [BASE_DIR / "locale"]
# The server's zone, and the zone of a new event unless it names its own (Event.time_zone).
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Bearer JWTs from their claims, no user query (core/authentication.py).
        "core.authentication.ClaimsJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON bodies: a RecursionError or a body nesting deeper than API_JSON_MAX_DEPTH is a
    # 400 (core/parsers.py), on every endpoint, anonymous ones included.
    "DEFAULT_PARSER_CLASSES": [
        "core.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "core.pagination.Pagination",
    "PAGE_SIZE": 20,
    "EXCEPTION_HANDLER": "core.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "core.schema.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "DEFAULT_THROTTLE_RATES": {
        "login": os.environ.get("THROTTLE_LOGIN", "10/min"),
        "register": os.environ.get("THROTTLE_REGISTER", "10/min"),
        "code_send": os.environ.get("THROTTLE_CODE_SEND", "5/min"),
        # Code sends per client address, whichever accounts it uses (SMS pumping).
        "code_send_address": os.environ.get("THROTTLE_CODE_SEND_ADDRESS", "20/hour"),
        "code_confirm": os.environ.get("THROTTLE_CODE_CONFIRM", "10/min"),
        # PATCH /api/accounts/me/ carrying a password or email change (each one checks
        # current_password: a guess at it), per user.
        "credentials_change": os.environ.get("THROTTLE_CREDENTIALS_CHANGE", "5/hour"),
        "waitlist_join": os.environ.get("THROTTLE_WAITLIST_JOIN", "20/min"),
        "confirmation_resend": os.environ.get("THROTTLE_CONFIRMATION_RESEND", "10/hour"),
        # Password reset: asked per client address and per email address. Links (reset,
        # email change) confirmed per client address. Data exports per user (each reads all).
        "password_reset": os.environ.get("THROTTLE_PASSWORD_RESET", "10/hour"),
        "password_reset_email": os.environ.get("THROTTLE_PASSWORD_RESET_EMAIL", "3/hour"),
        "link_confirm": os.environ.get("THROTTLE_LINK_CONFIRM", "60/hour"),
        "data_export": os.environ.get("THROTTLE_DATA_EXPORT", "5/hour"),
        "phone_lookup": os.environ.get("THROTTLE_PHONE_LOOKUP", "20/min"),
        "seat_holds": os.environ.get("THROTTLE_SEAT_HOLDS", "120/min"),
        # Starting a wallet top-up (a payment), per user: each may call the provider.
        "top_up": os.environ.get("THROTTLE_TOP_UP", "20/hour"),
        # Joining, reading and leaving a waiting room's line, per user (a join is
        # idempotent; this bounds what a script polling its place costs).
        "queue": os.environ.get("THROTTLE_QUEUE", "120/min"),
        # Joining, reading and leaving an event's waiting list (sold-out events), per user.
        "waiting_list": os.environ.get("THROTTLE_WAITING_LIST", "60/min"),
        "checkin": os.environ.get("THROTTLE_CHECKIN", "30/min"),
        # Ticket scans per gate account: a person a second is a fast gate; a script
        # trying codes is slowed (a guess cannot succeed anyway: the codes are signed).
        "gate_scan": os.environ.get("THROTTLE_GATE_SCAN", "600/min"),
        # Offline gates' bundle pages and uploads (up to 500 scans each) per gate account:
        # a stadium's 80,000 tickets are 16 pages; a script cannot make the server check
        # 500 signatures a request without bound.
        "gate_offline": os.environ.get("THROTTLE_GATE_OFFLINE", "60/min"),
        "draw_participate": os.environ.get("THROTTLE_DRAW_PARTICIPATE", "60/min"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # How many reverse proxies put themselves in X-Forwarded-For. 0 means the
    # throttles use the socket's address: DRF's default (None) trusts a header
    # any client can set, which would let it dodge every rate limit.
    "NUM_PROXIES": env_int("NUM_PROXIES", 0),
}

# The deepest a JSON request body may nest (objects and arrays); ours need fewer than 10.
API_JSON_MAX_DEPTH = env_int("API_JSON_MAX_DEPTH", 32)

SIMPLE_JWT = {
    # The Prizy mobile client sends "JWT <token>"; everyone else "Bearer <token>".
    "AUTH_HEADER_TYPES": ("Bearer", "JWT"),
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("JWT_ACCESS_MINUTES", 15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("JWT_REFRESH_DAYS", 14)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "SIGNING_KEY": SECRET_KEY,
    # Access tokens carry the claims authentication reads (core/authentication.py).
    "TOKEN_OBTAIN_SERIALIZER": "core.authentication.TokenObtainSerializer",
    "TOKEN_REFRESH_SERIALIZER": "core.authentication.TokenRefreshSerializer",
}

# The schema's front page (Swagger UI, ReDoc): what the REST operations cannot say.
API_DESCRIPTION = """Realtime draws and ticketing.

Every error is `{"code", "detail", "fields"?}`; lists are paginated (`?page=&page_size=`)
and take the filters, `ordering` and `search` each one declares (an unknown parameter is a
400 `unknown_parameter`). Every answer carries an `X-Request-ID` (yours when you send a
sane one). Send `Authorization: Bearer <access>`.

**Streams** (WebSocket, docs/websocket-protocol.md): `ws/events/{id}/`,
`ws/events/{id}/seats/`, `ws/draws/{id}/`; subprotocols `tombola.v2` and
`jwt.<access>`. Each message is `{"stream", "seq", "type", "data", "ts"}`; connect with
`?since=<last seq>` or, on an open socket, **resume**:

    → {"type": "resume", "since": 41}
    ← {"stream": "event:12", "seq": 43, "type": "replay", "ts": 1764087600.75,
       "data": {"messages": [
         {"stream": "event:12", "seq": 42, "type": "event.updated", ...},
         {"stream": "event:12", "seq": 43, "type": "draw.started", ...}]}}

A gap older than the history answers a fresh `snapshot` with `"reset": true`.
"""

SPECTACULAR_SETTINGS = {
    "TITLE": "Tombola API",
    "DESCRIPTION": API_DESCRIPTION,
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The docs pages load their scripts from our static files, not from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Choice sets used by several fields get one name each (else drf-spectacular warns).
    "ENUM_NAME_OVERRIDES": {
        "EventStatusEnum": "core.models.Event.Status",
        "DrawStatusEnum": "live.models.Draw.Status",
        "OrderStatusEnum": "ticketing.models.Order.Status",
        "TicketStatusEnum": "ticketing.models.Ticket.Status",
        "DrawKindEnum": "live.models.Draw.Kind",
        "LotteryModeEnum": "live.models.Draw.LotteryMode",
        "WalletTransactionKindEnum": "ticketing.models.WalletTransaction.Kind",
        "SeatChangeStatusEnum": "ticketing.models.SeatStatusChange.Status",
        "WaitingRoomModeEnum": "ticketing.models.WaitingRoom.Mode",
        "WaitingRoomStatusEnum": "ticketing.models.WaitingRoom.Status",
        "PaymentStatusEnum": "ticketing.models.Payment.Status",
        "PaymentProviderEnum": "ticketing.models.Payment.Provider",
    },
}

# Outgoing messages. SMS_BACKEND: "console" (default), "memory" (tests keep an
# outbox) or "http" (a provider at SMS_HTTP_URL with SMS_HTTP_TOKEN).
SMS_BACKEND = os.environ.get("SMS_BACKEND", "console")
SMS_HTTP_URL = os.environ.get("SMS_HTTP_URL", "")
SMS_HTTP_TOKEN = os.environ.get("SMS_HTTP_TOKEN", "")
SMS_HTTP_TIMEOUT = float(os.environ.get("SMS_HTTP_TIMEOUT", "5"))

# Phones are stored in E.164. PHONE_DEFAULT_REGION (e.g. "DE") lets people type
# national numbers; empty means every number must carry its +country code.
PHONE_DEFAULT_REGION = os.environ.get("PHONE_DEFAULT_REGION", "").upper()
# Verification codes are texted only to mobile numbers of these regions (ISO 3166
# codes): SMS pumping fraud profits from texts to expensive destinations. The default
# is the EU/EEA core, the UK, Switzerland and North America; list your own audience.
PHONE_ALLOWED_REGIONS = frozenset(code.upper() for code in env_list(
    "PHONE_ALLOWED_REGIONS",
    "AT,BE,CH,DE,DK,ES,FI,FR,GB,IE,IT,LU,NL,NO,PL,PT,SE,US,CA",
))
# Text messages a day for the whole deployment (UTC days); past it every send
# answers 503 sms_budget_exhausted and an alert is logged. 0: no budget.
SMS_DAILY_BUDGET = env_int("SMS_DAILY_BUDGET", 2000)
# Phone verification codes: lifetime, wrong guesses allowed, wait before a resend.
PHONE_CODE_TTL_SECONDS = env_int("PHONE_CODE_TTL_SECONDS", 300)
PHONE_CODE_MAX_ATTEMPTS = env_int("PHONE_CODE_MAX_ATTEMPTS", 5)
PHONE_CODE_RESEND_SECONDS = env_int("PHONE_CODE_RESEND_SECONDS", 60)
# Codes per phone, and per user, in any 24 hours: with MAX_ATTEMPTS this bounds the
# guesses at a 6-digit code to 10 * 5 = 50 a day (README, "Brute force").
PHONE_CODE_MAX_PER_DAY = env_int("PHONE_CODE_MAX_PER_DAY", 10)
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Tombola <noreply@tombola.local>")
# Links in emails, proofs and stream messages start with this; unset, with the address
# the request came in on (core/links.py), never a hard-coded host or port.
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "")

# Referral waitlist. WAITLIST_RANKING: "referrals" (more referrals first,
# earlier signup breaks ties), "signup" (first come first served) or
# "skip" (each referral moves you WAITLIST_SKIP_PER_REFERRAL places up).
WAITLIST_RANKING = os.environ.get("WAITLIST_RANKING", "referrals")
WAITLIST_SKIP_PER_REFERRAL = env_int("WAITLIST_SKIP_PER_REFERRAL", 5)
WAITLIST_REQUIRE_VERIFIED_REFERRAL = env_bool("WAITLIST_REQUIRE_VERIFIED_REFERRAL", True)
# A lost Redis ranking is rebuilt on the spot up to this many members; above
# it, answers come from SQL until `manage.py rebuild_waitlist_ranking` runs.
WAITLIST_LAZY_REBUILD_MAX = env_int("WAITLIST_LAZY_REBUILD_MAX", 20_000)
# Lifetime of the email-confirmation link in the waitlist welcome email.
WAITLIST_EMAIL_TOKEN_MAX_AGE = env_int("WAITLIST_EMAIL_TOKEN_MAX_AGE", 7 * 86_400)
# Password reset links (Django's PasswordResetTokenGenerator) live this long; each
# works once (it signs the password hash). Email change links live EMAIL_CHANGE_...
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT", 3600)
EMAIL_CHANGE_TOKEN_MAX_AGE = env_int("EMAIL_CHANGE_TOKEN_MAX_AGE", 86_400)
# Deleting the account without its password: the session must have begun this recently.
ACCOUNT_DELETE_RECENT_LOGIN_SECONDS = env_int("ACCOUNT_DELETE_RECENT_LOGIN_SECONDS", 300)
# A fresh confirmation link (POST /api/waitlist/confirm-email/resend/) goes to one
# address at most once per this many seconds, whoever asks.
WAITLIST_CONFIRMATION_RESEND_SECONDS = env_int("WAITLIST_CONFIRMATION_RESEND_SECONDS", 300)
# Public stats are cached this long (they are cheap, but not free at 1M users).
STATS_CACHE_SECONDS = env_int("STATS_CACHE_SECONDS", 30)

# Seat holds and wallets (ticketing). Where holds live: "redis" (Lua scripts) or
# "db" (rows under a unique constraint); unset, Redis when REDIS_URL is set.
TICKETING_HOLD_BACKEND = os.environ.get("TICKETING_HOLD_BACKEND") or (
    "redis" if REDIS_URL else "db"
)
# The lifetime a hold gets (and each extension gives), and no extension goes
# past its creation plus the cap.
TICKETING_HOLD_TTL_SECONDS = env_int("TICKETING_HOLD_TTL_SECONDS", 900)
TICKETING_HOLD_MAX_LIFETIME_SECONDS = env_int("TICKETING_HOLD_MAX_LIFETIME_SECONDS", 2700)
# The lifetime cap is per user and event, not per hold: a new hold continues the window
# of the user's holds for the event that were live less than this long ago (released,
# expired or still live), so releasing and holding again does not restart it. Only this
# long after the user's last hold ended does a fresh window start.
TICKETING_HOLD_COOLDOWN_SECONDS = env_int("TICKETING_HOLD_COOLDOWN_SECONDS", 900)
# Seats one user may hold at once for one event, over all their live holds (the sale's
# max_seats_per_order caps each hold): one account cannot sit on a venue.
TICKETING_MAX_HELD_SEATS_PER_USER = env_int("TICKETING_MAX_HELD_SEATS_PER_USER", 8)
# Two events at one venue may not be on sale at overlapping times (they would each sell
# the same seats); an event without ends_at is taken to last this long.
TICKETING_EVENT_DEFAULT_DURATION_MINUTES = env_int(
    "TICKETING_EVENT_DEFAULT_DURATION_MINUTES", 240
)
# Waiting lists of sold-out events (ticketing/services/waiting_list.py): how long seats
# offered to the next in line stay held for them before the offer passes on, in seconds (the default
# of a new list; staff change it per event in the admin).
TICKETING_WAITLIST_OFFER_SECONDS = env_int("TICKETING_WAITLIST_OFFER_SECONDS", 1800)
# PostgreSQL only: how long a hold claim or a purchase waits for a row lock before it
# answers 503 "busy" (ticketing.seat_locks.seat_lock_transaction).
TICKETING_SEAT_LOCK_TIMEOUT_MS = env_int("TICKETING_SEAT_LOCK_TIMEOUT_MS", 5000)
# The largest single wallet top-up, in minor units (10,000.00).
TICKETING_MAX_TOP_UP = env_int("TICKETING_MAX_TOP_UP", 1_000_000)
# How long an idempotency key (purchase, top-up) answers a retry with the first result.
TICKETING_IDEMPOTENCY_HOURS = env_int("TICKETING_IDEMPOTENCY_HOURS", 24)

# Payments: where top-up money comes from (ticketing/payments/, README "Payments").
# "stripe" (PaymentIntents; the wallet is credited from the signed webhook only),
# "manual" (bank transfer with a reference; staff confirm receipt) or "demo" (credits at
# once; DEBUG only: core.conf refuses to serve with it otherwise). Unset: "demo" with
# DEBUG on (make run), "manual" with it off, so nothing mints money by default.
PAYMENT_PROVIDER = os.environ.get("PAYMENT_PROVIDER") or ("demo" if DEBUG else "manual")
if PAYMENT_PROVIDER not in {"stripe", "manual", "demo"}:
    raise ImproperlyConfigured(
        f"PAYMENT_PROVIDER must be 'stripe', 'manual' or 'demo', not {PAYMENT_PROVIDER!r}"
    )
PAYMENT_CURRENCY = os.environ.get("PAYMENT_CURRENCY", "eur").lower()
# Per account: the most one payment may be (TICKETING_MAX_TOP_UP above) and the most all
# payments started in the last 24 hours may add up to (failed ones do not count).
TICKETING_MAX_TOP_UP_PER_DAY = env_int("TICKETING_MAX_TOP_UP_PER_DAY", 2_000_000)
# Stripe: the secret API key (sk_...), the webhook endpoint's signing secret (whsec_...),
# how old a signed webhook may be (seconds; older ones are refused as replays), and the
# API's address (tests point it at a local server).
STRIPE_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY", "")
STRIPE_WEBHOOK_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET", "")
STRIPE_WEBHOOK_TOLERANCE_SECONDS = env_int("STRIPE_WEBHOOK_TOLERANCE_SECONDS", 300)
STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE", "https://api.stripe.com")
STRIPE_TIMEOUT_SECONDS = float(os.environ.get("STRIPE_TIMEOUT_SECONDS") or 10)
# Manual (bank transfer): what the buyer is told to transfer to, with the reference.
BANK_TRANSFER_BENEFICIARY = os.environ.get("BANK_TRANSFER_BENEFICIARY", "Tombola")
BANK_TRANSFER_IBAN = os.environ.get("BANK_TRANSFER_IBAN", "")
BANK_TRANSFER_BIC = os.environ.get("BANK_TRANSFER_BIC", "")

# Draws nobody can steer (issue 19, docs/fairness.md): a drand randomness beacon round
# fixed when the draw is committed. BEACON_RELAYS: HTTP relays tried in turn (comma
# separated); empty (the default) means no beacon, and new draws use the v1 scheme.
# Production: e.g. "https://api.drand.sh,https://api2.drand.sh,https://drand.cloudflare.com".
# BEACON_CHAIN names a built-in chain (live/beacon.py: "quicknet", the default, or
# "default"); BEACON_CHAIN_INFO (JSON {hash, public_key, period, genesis_time, scheme})
# names any other. Each relay gets BEACON_TIMEOUT_SECONDS; a draw waiting for its round
# is retried every BEACON_RETRY_SECONDS; staff may perform it without the beacon (an
# explicit fallback the proof records) after BEACON_FALLBACK_AFTER_SECONDS of waiting.
BEACON_RELAYS = env_list("BEACON_RELAYS")
BEACON_CHAIN = os.environ.get("BEACON_CHAIN", "quicknet")
BEACON_CHAIN_INFO = json.loads(os.environ["BEACON_CHAIN_INFO"]) \
    if os.environ.get("BEACON_CHAIN_INFO") else None
BEACON_TIMEOUT_SECONDS = float(os.environ.get("BEACON_TIMEOUT_SECONDS") or 3)
BEACON_RETRY_SECONDS = float(os.environ.get("BEACON_RETRY_SECONDS") or 5)
BEACON_FALLBACK_AFTER_SECONDS = env_int("BEACON_FALLBACK_AFTER_SECONDS", 600)

# Signed tickets (README "Running the gates"): each event's Ed25519 private key is stored
# encrypted under a key derived from this secret (SECRET_KEY when unset). Changing it
# makes the stored keys unreadable: no new codes, the gates' public keys still verify.
TICKET_SIGNING_SECRET = os.environ.get("TICKET_SIGNING_SECRET") or SECRET_KEY

# Realtime streams: how much history a reconnecting client can resume from.
STREAM_HISTORY_LENGTH = env_int("STREAM_HISTORY_LENGTH", 300)
STREAM_HISTORY_SECONDS = env_int("STREAM_HISTORY_SECONDS", 600)

# WebSocket streams (docs/websocket-protocol.md). Heartbeat frames keep idle
# proxies from closing the socket and let clients notice a dead connection.
WS_HEARTBEAT_SECONDS = float(os.environ.get("WS_HEARTBEAT_SECONDS") or 30)
# Client frames: size cap, and a token bucket per connection (RATE per second,
# BURST at once); a connection still flooding after FLOOD_CLOSE_AFTER refused
# frames in a row is closed with 4429.
WS_MAX_MESSAGE_BYTES = env_int("WS_MAX_MESSAGE_BYTES", 4096)
WS_RATE_PER_SECOND = float(os.environ.get("WS_RATE_PER_SECOND") or 5)
WS_RATE_BURST = env_int("WS_RATE_BURST", 20)
WS_FLOOD_CLOSE_AFTER = env_int("WS_FLOOD_CLOSE_AFTER", 50)
# Open WebSockets (stream sockets and ws/health/) per logged-in user and per client
# address, counted per worker process (consumers/limits.py); over either: close 4429.
# 0 means no cap. The address cap is high because a venue's Wi-Fi puts a whole hall
# behind one public address; the benchmarks open 2,500 sockets per worker from one.
WS_MAX_CONNECTIONS_PER_USER = env_int("WS_MAX_CONNECTIONS_PER_USER", 20)
WS_MAX_CONNECTIONS_PER_ADDRESS = env_int("WS_MAX_CONNECTIONS_PER_ADDRESS", 5000)
# STREAM_FANOUT = "relay": messages waiting for one socket; beyond this the
# worker drops them for that socket (counted) and the client recovers by resume.
WS_RELAY_INBOX_SIZE = env_int("WS_RELAY_INBOX_SIZE", 1000)
# Native apps send no Origin header; browsers always do. See
# docs/decisions/2026-11-25-websocket-missing-origin.md.
WS_ALLOW_MISSING_ORIGIN = env_bool("WS_ALLOW_MISSING_ORIGIN", True)
# How a published message reaches the sockets: "relay" (one subscription per
# worker process relaying to its own sockets; consumers/relay.py) or "group"
# (a channel-layer group_send, one layer write per socket). Figures:
# docs/decisions/2026-11-25-stream-fanout-relay.md.
STREAM_FANOUT = os.environ.get("STREAM_FANOUT", "relay")
if STREAM_FANOUT not in ("relay", "group"):
    raise ImproperlyConfigured(f"STREAM_FANOUT must be 'relay' or 'group', not {STREAM_FANOUT!r}")
if STREAM_FANOUT == "group" and REDIS_CLUSTER:
    raise ImproperlyConfigured(
        "STREAM_FANOUT=group needs the channels-redis layer, which cannot run on a Redis "
        "Cluster (REDIS_URL=redis+cluster://...). Use STREAM_FANOUT=relay (the default: "
        "sharded pub/sub, consumers/relay.py), or point REDIS_URL at a single Redis.")
# The relay's pub/sub channels: a stream's messages go to shard crc32(stream) mod this
# (`<prefix>:fanout:{<n>}`, SPUBLISH), and a worker subscribes only to the shards of the
# streams it has sockets on. More shards: less decoding of other streams' messages, more
# subscriptions per worker (at most this many).
STREAM_FANOUT_SHARDS = env_int("STREAM_FANOUT_SHARDS", 64)
if STREAM_FANOUT_SHARDS < 1:
    raise ImproperlyConfigured("STREAM_FANOUT_SHARDS must be at least 1")

# The scheduler runs inside the server process on embedded defaults (the
# in-memory channel layer only reaches its own process); with Redis it is a
# separate `manage.py run_scheduler` process unless this says otherwise.
RUN_SCHEDULER_IN_PROCESS = env_bool("RUN_SCHEDULER_IN_PROCESS", not REDIS_URL)
# A worker told to stop (SIGTERM) lets requests in flight finish for this long,
# then exits even if some are stuck (`manage.py serve`). Keep it below the
# supervisor's kill timeout (deploy/stack.py: 20 s; compose: stop_grace_period).
SHUTDOWN_GRACE_SECONDS = float(os.environ.get("SHUTDOWN_GRACE_SECONDS") or 10)

# LOG_FORMAT: "plain" (default, for people) or "json" (one object per line, for log
# shippers). Every line carries the request's id (core/requestlog.py).
LOG_FORMAT = os.environ.get("LOG_FORMAT", "plain")
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be 'plain' or 'json', not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "core.requestlog.JsonFormatter"},
    },
    "filters": {
        # A URL in a log line never shows a screen key or a token (core/accesslog.py).
        "redact_secrets": {"()": "core.accesslog.RedactSecretsFilter"},
        "request_id": {"()": "core.requestlog.RequestIdFilter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT,
                             "filters": ["request_id", "redact_secrets"]}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Each answer is logged once, by the access log (tombola.access, with its status);
        # django.request would add a WARNING for every 4xx. It still reports 5xx.
        "django.request": {"level": "ERROR"},
    },
}

if not DEBUG:
    SESSION_COOKIE_HTTPONLY = True
    CSRF_COOKIE_HTTPONLY = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"

# The scheduler loop (live/scheduler.py): how often it wakes, how far ahead it
# publishes countdown ticks, and the check-in code's rotation window.
SCHEDULER_TICK_SECONDS = float(os.environ.get("SCHEDULER_TICK_SECONDS", "1"))
SCHEDULER_COUNTDOWN_HORIZON_SECONDS = env_int("SCHEDULER_COUNTDOWN_HORIZON_SECONDS", 3600)
CHECKIN_CODE_WINDOW_SECONDS = env_int("CHECKIN_CODE_WINDOW_SECONDS", 30)
# How often the waiting rooms admit (ticketing.waiting_rooms_admit): below the tick, the
# scheduler runs it between ticks too, so a second's admissions (20 at 1,200 a minute)
# reach the sale a few at a time instead of at the same instant.
WAITING_ROOM_ADMIT_SECONDS = float(os.environ.get("WAITING_ROOM_ADMIT_SECONDS") or 0.1)
if not 0.05 <= WAITING_ROOM_ADMIT_SECONDS <= 60:
    # Below 0.05 s the scheduler would do nothing else (a query and a few Redis round
    # trips per room each time); above a minute a room's buyers would wait for it.
    raise ImproperlyConfigured("WAITING_ROOM_ADMIT_SECONDS must be between 0.05 and 60")

# Dotted path of the scheduler's blocking loop: live owns it, core knows it only by name.
SCHEDULER_LOOP = os.environ.get("SCHEDULER_LOOP", "live.scheduler.run")

# Outbound webhooks and operator forwarding (core/outbound.py) go to public
# addresses only; list private networks (CIDR) a receiver may be on, e.g. an
# operator inside a VPN: OUTBOUND_ALLOWED_NETWORKS=10.20.0.0/16.
OUTBOUND_ALLOWED_NETWORKS = [
    ipaddress.ip_network(net, strict=False) for net in env_list("OUTBOUND_ALLOWED_NETWORKS")
]

# Outbound webhooks (core/webhooks.py).
WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("WEBHOOK_TIMEOUT_SECONDS", "5"))
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 8)
WEBHOOK_BACKOFF_SECONDS = float(os.environ.get("WEBHOOK_BACKOFF_SECONDS", "5"))

# Forwarding participants to an event's operator (live/forwarding.py).
OPERATOR_TIMEOUT_SECONDS = float(os.environ.get("OPERATOR_TIMEOUT_SECONDS", "10"))
OPERATOR_MAX_ATTEMPTS = env_int("OPERATOR_MAX_ATTEMPTS", 8)
OPERATOR_BACKOFF_SECONDS = float(os.environ.get("OPERATOR_BACKOFF_SECONDS", "30"))

# /metrics answers staff, and scrapers from these networks (CIDR, comma-separated).
METRICS_ALLOWED_NETWORKS = env_list("METRICS_ALLOWED_NETWORKS", "127.0.0.1/32,::1/128")

# The admin login (core/lockout.py): after this many wrong passwords for one account,
# or from one address, within LOGIN_LOCKOUT_SECONDS, sign-in is refused until the
# window has passed. 0 turns a limit off.
LOGIN_LOCKOUT_FAILURES = env_int("LOGIN_LOCKOUT_FAILURES", 5)
LOGIN_LOCKOUT_ADDRESS_FAILURES = env_int("LOGIN_LOCKOUT_ADDRESS_FAILURES", 20)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 900)
