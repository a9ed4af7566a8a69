"""Production settings (docs/security.md): secure by default with DEBUG off, `check --deploy` clean
with the documented production environment and failing with DEBUG on or the generated development
key, no start without a real SECRET_KEY.

Settings are read once, at import, so each environment runs in a process of its own.
"""

import functools
import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.hashers import make_password
from django.test import Client

from accounts.throttles import LoginIPThrottle
from conftest import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
# The production environment of README.md and docs/security.md, behind a proxy that terminates TLS.
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "chat.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://chat.example.com",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
    "USE_X_FORWARDED_PROTO": "true",
}
SECURITY_VARIABLES = [
    *PRODUCTION,
    "SECRET_KEY_FILE",
    "SECURE_HSTS_SECONDS",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "NUM_PROXIES",
    "JWT_ACCESS_MINUTES",
    "JWT_REFRESH_DAYS",
]
SETTINGS_DUMPED = [
    "DEBUG",
    "SECURE_SSL_REDIRECT",
    "SECURE_REDIRECT_EXEMPT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_PROXY_SSL_HEADER",
    "SECURE_CONTENT_TYPE_NOSNIFF",
    "SECURE_REFERRER_POLICY",
    "SECURE_CROSS_ORIGIN_OPENER_POLICY",
    "SESSION_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "CSRF_COOKIE_SECURE",
    "CSRF_COOKIE_HTTPONLY",
    "X_FRAME_OPTIONS",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
]
DUMP = f"""
import json, django
from django.conf import settings
django.setup()
values = {{name: getattr(settings, name) for name in {SETTINGS_DUMPED!r}}}
values["NUM_PROXIES"] = settings.REST_FRAMEWORK["NUM_PROXIES"]
values["SECRET_KEY_FILE"] = str(settings.SECRET_KEY_FILE)
values["JWT"] = [settings.SIMPLE_JWT[k].total_seconds() for k in ("ACCESS_TOKEN_LIFETIME", "REFRESH_TOKEN_LIFETIME")]
print(json.dumps(values))
"""


def run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    """`python <args>` in the project with the test's environment, minus every security setting, plus `env`."""
    environ = {k: v for k, v in os.environ.items() if k not in SECURITY_VARIABLES and k != "DJANGO_SETTINGS_MODULE"}
    environ.update(env, DJANGO_SETTINGS_MODULE="brewverse.settings")
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60)


def settings_under(**env: str) -> dict:
    result = run(["-c", DUMP], **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@functools.cache
def production_settings() -> dict:
    return settings_under(**PRODUCTION)


def test_check_deploy_passes_with_the_documented_production_environment():
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **PRODUCTION)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_fails_without_the_documented_https_choices():
    """Redirecting to https and committing the domain to HSTS are the operator's to choose; a
    production environment that leaves them out does not pass."""
    env = {name: value for name, value in PRODUCTION.items() if not name.startswith("SECURE_")}

    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **env)

    assert result.returncode != 0
    for warning in ("security.W008", "security.W005", "security.W021"):  # redirect, subdomains, preload
        assert warning in result.stderr


@pytest.mark.parametrize("secret_key", [None, "", "django-insecure-" + secrets.token_urlsafe(40)])
def test_debug_off_without_a_real_secret_key_refuses_to_start(secret_key, tmp_path):
    env = {"DEBUG": "false", "ALLOWED_HOSTS": "chat.example.com", "SECRET_KEY_FILE": str(tmp_path / "key")}
    if secret_key is not None:
        env["SECRET_KEY"] = secret_key

    result = run(["manage.py", "check"], **env)

    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr
    assert not (tmp_path / "key").exists()


PRINT_KEY = "import django; from django.conf import settings; django.setup(); print(settings.SECRET_KEY)"


def test_without_a_secret_key_one_is_generated_once_into_a_private_file(tmp_path):
    key_file = tmp_path / "key"

    first = run(["-c", PRINT_KEY], SECRET_KEY_FILE=str(key_file))
    again = run(["-c", PRINT_KEY], SECRET_KEY_FILE=str(key_file))
    elsewhere = run(["-c", PRINT_KEY], SECRET_KEY_FILE=str(tmp_path / "other"))

    assert first.returncode == 0, first.stderr
    key = first.stdout.strip()
    assert len(key) >= 50
    assert key_file.read_text() == key
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert again.stdout.strip() == key  # sessions and tokens survive a restart
    assert elsewhere.stdout.strip() not in ("", key)  # every checkout gets its own
    assert sorted(path.name for path in tmp_path.iterdir()) == ["key", "other"]  # no draft left behind


def test_processes_starting_together_agree_on_the_generated_key(tmp_path):
    key_file = tmp_path / "key"
    environ = {k: v for k, v in os.environ.items() if k not in SECURITY_VARIABLES}
    environ.update(SECRET_KEY_FILE=str(key_file), DJANGO_SETTINGS_MODULE="brewverse.settings")
    starting = [
        subprocess.Popen([sys.executable, "-c", PRINT_KEY], cwd=ROOT, env=environ, stdout=subprocess.PIPE, text=True)
        for _ in range(6)
    ]
    keys = {process.communicate(timeout=60)[0].strip() for process in starting}

    assert keys == {key_file.read_text()}
    assert [path.name for path in tmp_path.iterdir()] == ["key"]  # no draft left behind


def test_the_generated_key_lives_beside_the_database_and_is_git_ignored():
    values = settings_under()

    assert values["SECRET_KEY_FILE"] == str(ROOT / ".secret_key")
    ignored = subprocess.run(["git", "check-ignore", "--quiet", ".secret_key"], cwd=ROOT)
    if ignored.returncode == 128:
        pytest.skip("not a git checkout")
    assert ignored.returncode == 0


def test_check_deploy_fails_with_debug_on():
    result = run(["manage.py", "check", "--deploy"], **{**PRODUCTION, "DEBUG": "true"})

    assert result.returncode != 0
    assert "brewverse.E001" in result.stderr
    assert "brewverse.E002" not in result.stderr


def test_check_deploy_fails_with_the_generated_key(tmp_path):
    key_file = tmp_path / "key"
    development = run(["manage.py", "check", "--deploy"], SECRET_KEY_FILE=str(key_file))
    # Even copied into the environment, the generated key is a development key.
    copied = run(
        ["manage.py", "check", "--deploy"],
        **{**PRODUCTION, "SECRET_KEY": key_file.read_text()},
        SECRET_KEY_FILE=str(key_file),
    )

    assert development.returncode != 0
    assert "brewverse.E001" in development.stderr
    assert "brewverse.E002" in development.stderr
    assert copied.returncode != 0
    assert "brewverse.E002" in copied.stderr
    assert "brewverse.E001" not in copied.stderr


def test_debug_off_is_secure_by_default():
    values = settings_under(DEBUG="false", SECRET_KEY=PRODUCTION["SECRET_KEY"])

    assert values["DEBUG"] is False
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["CSRF_COOKIE_SECURE"] is True
    assert values["SESSION_COOKIE_HTTPONLY"] is True
    # The pages' script reads the CSRF token from its cookie (static/js/api.js).
    assert values["CSRF_COOKIE_HTTPONLY"] is False
    assert values["SECURE_HSTS_SECONDS"] == 31_536_000
    assert values["SECURE_CONTENT_TYPE_NOSNIFF"] is True
    assert values["SECURE_REFERRER_POLICY"] == "same-origin"
    assert values["SECURE_CROSS_ORIGIN_OPENER_POLICY"] == "same-origin"
    assert values["X_FRAME_OPTIONS"] == "DENY"
    # A client's own X-Forwarded-For is never taken for its address.
    assert values["NUM_PROXIES"] == 0
    # Trusting X-Forwarded-Proto is opted into, never the default: a client could claim https.
    assert values["SECURE_PROXY_SSL_HEADER"] is None


def test_the_production_environment_sets_what_it_documents():
    values = settings_under(**PRODUCTION, JWT_ACCESS_MINUTES="5", JWT_REFRESH_DAYS="2", NUM_PROXIES="1")

    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert values["SECURE_HSTS_PRELOAD"] is True
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert values["ALLOWED_HOSTS"] == ["chat.example.com"]
    assert values["CSRF_TRUSTED_ORIGINS"] == ["https://chat.example.com"]
    assert values["JWT"] == [5 * 60, 2 * 86400]
    assert values["NUM_PROXIES"] == 1


def test_development_stays_on_plain_http():
    values = settings_under()

    assert values["DEBUG"] is True
    assert values["SESSION_COOKIE_SECURE"] is False
    assert values["CSRF_COOKIE_SECURE"] is False
    assert values["SECURE_HSTS_SECONDS"] == 0
    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["JWT"] == [15 * 60, 14 * 86400]


@pytest.fixture
def production(settings):
    """This process's settings switched to what the production environment gives."""
    for name, value in production_settings().items():
        if name.isupper() and name in SETTINGS_DUMPED:
            setattr(settings, name, tuple(value) if name == "SECURE_PROXY_SSL_HEADER" else value)
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]


@pytest.mark.django_db
def test_behind_the_proxy_https_gets_hsts_secure_cookies_and_plain_http_is_redirected(production):
    client = Client(HTTP_HOST="chat.example.com")

    plain = client.get("/login")
    tls = client.get("/login", HTTP_X_FORWARDED_PROTO="https")
    health = client.get("/healthz")

    assert plain.status_code == 301
    assert plain["Location"] == "https://chat.example.com/login"
    assert tls.status_code == 200
    assert tls["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert "script-src 'self'" in tls["Content-Security-Policy"]
    csrf = tls.cookies["csrftoken"]
    assert csrf["secure"]
    assert not csrf["httponly"]
    # A load balancer may check health over plain http.
    assert health.status_code in (200, 503)


@pytest.mark.django_db
def test_the_session_cookie_is_secure_and_http_only(production, alice):
    client = Client(HTTP_HOST="chat.example.com", HTTP_X_FORWARDED_PROTO="https")

    response = client.post("/login", {"username": "alice", "password": PASSWORD})

    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session["secure"]
    assert session["httponly"]
    assert session["samesite"] == "Lax"


def test_passwords_are_hashed_with_argon2():
    assert make_password("correct horse").startswith("argon2$")


@pytest.mark.django_db
def test_a_forged_x_forwarded_for_does_not_reset_the_login_ip_throttle(api_for, monkeypatch):
    monkeypatch.setattr(LoginIPThrottle, "rate", "3/min", raising=False)
    api = api_for()

    answers = [
        api.post(
            "/api/auth/login",
            {"username": f"guess{n}", "password": "x"},
            format="json",
            HTTP_X_FORWARDED_FOR=f"203.0.113.{n}",
        ).status_code
        for n in range(4)
    ]

    assert answers == [401, 401, 401, 429]


# Private keys, cloud keys, and keys or tokens written into assignments. (Test users' passwords, in
# conftest.py and bench/, are public on purpose.)
SECRET_PATTERNS = [
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    re.compile(r"\b(?:SECRET_KEY|API_KEY|TOKEN)\s*=\s*[\"'][^\"'\s]{16,}[\"']"),
]


def test_no_secret_is_committed():
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    found = []
    for name in filter(None, listed.stdout.split("\0")):
        path = ROOT / name
        if not path.is_file() or path.suffix in {".png", ".jpg", ".svg", ".ico", ".woff2"}:
            continue
        text = path.read_text(errors="ignore")
        found += [f"{name}: {match.group(0)[:40]}" for p in SECRET_PATTERNS for match in p.finditer(text)]
    assert found == []
