"""Production settings (docs/security.md): secure by default with DEBUG off, `check --deploy` clean
with the documented production environment and failing with DEBUG on or the generated development
key, no start without a real SECRET_KEY.

Settings are read once, at import, so each environment runs in a process of its own.
"""

import asyncio
import functools
import json
import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.test import Client
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from accounts.throttles import LoginIPThrottle
from chat.tests.live import free_port, live_env, live_server
from chat.tests.sockets import access_token
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


def test_the_generated_key_lives_beside_the_database_and_is_neither_committed_nor_built_in():
    values = settings_under()

    assert values["SECRET_KEY_FILE"] == str(ROOT / ".secret_key")
    assert ".secret_key*" in (ROOT / ".dockerignore").read_text().splitlines()
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


# --- the proxy in front (deploy/nginx.conf) and where daphne listens ------------------------------

NGINX_CONF = ROOT / "deploy" / "nginx.conf"
NGINX_TOKENS = re.compile(r"#[^\n]*|'([^']*)'|\"([^\"]*)\"|([{};])|([^\s{};'\"#]+)")


def nginx_parse(text: str) -> list[tuple[str, list[str], list | None]]:
    """nginx's configuration as (directive, arguments, block or None) triples, comments left out."""
    stack: list[list] = [[]]
    words: list[str] = []
    for match in NGINX_TOKENS.finditer(text):
        single, double, punctuation, word = match.groups()
        if punctuation == ";":
            stack[-1].append((words[0], words[1:], None))
            words = []
        elif punctuation == "{":
            block: list = []
            stack[-1].append((words[0], words[1:], block))
            stack.append(block)
            words = []
        elif punctuation == "}":
            stack.pop()
        elif not match.group(0).startswith("#"):
            words.append(next(part for part in (single, double, word) if part is not None))
    return stack[0]


def directives(block: list, name: str) -> list[tuple[str, list[str], list | None]]:
    return [directive for directive in block if directive[0] == name]


def seconds(value: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    number, unit = re.fullmatch(r"(\d+)(ms|s|m|h|d)?", value).groups()
    return int(number) * units[unit or "s"]


def nginx_config() -> list:
    return nginx_parse(NGINX_CONF.read_text())


def servers() -> list[list]:
    return [block for _, _, block in directives(nginx_config(), "server")]


def setting(block: list, name: str) -> str:
    (found,) = directives(block, name)
    return found[1][0]


def location(server: list, path: str) -> list:
    (found,) = [block for _, args, block in directives(server, "location") if args[-1] == path]
    return found


def test_nginx_reads_every_request_whole_within_short_timeouts():
    """daphne has no timeout for headers or bodies (3,000 slow-header connections held it); nginx has."""
    for server in servers():
        for name, most in [
            ("client_header_timeout", 30),
            ("client_body_timeout", 30),
            ("send_timeout", 30),
            ("keepalive_timeout", 75),
        ]:
            assert seconds(setting(server, name)) <= most, name


def test_nginx_keeps_quiet_sockets_open_and_gives_up_on_a_hung_replica():
    (tls,) = [server for server in servers() if any("ssl" in args for _, args, _ in directives(server, "listen"))]
    sockets, pages = location(tls, "/ws/"), location(tls, "/")

    assert seconds(setting(sockets, "proxy_read_timeout")) >= 600
    assert seconds(setting(pages, "proxy_read_timeout")) <= 120
    # Upgrades, and the Host with its port, for the origin check of session sockets.
    assert directives(tls, "proxy_http_version")[0][1] == ["1.1"]
    headers = {args[0]: args[1] for _, args, _ in directives(tls, "proxy_set_header")}
    assert headers["Upgrade"] == "$http_upgrade"
    assert headers["Host"] == "$http_host"


def test_nginx_logs_paths_without_the_query_string_and_its_token():
    config = nginx_config()
    formats = {args[0]: "".join(args[1:]) for _, args, _ in directives(config, "log_format")}
    ((_, (source, _), rules),) = [found for found in directives(config, "map") if found[1][1] == "$request_path"]

    for server in servers():
        (access_log,) = directives(server, "access_log")
        log_format = formats[access_log[1][1]]
        assert "$request_path" in log_format
        # Every variable that holds the query string, or the whole request line with it.
        for variable in ("$request ", "$request_uri", "$args", "$query_string", "$arg_", "$is_args"):
            assert variable not in log_format + " ", variable
    assert source == "$request_uri"
    ((pattern, (value,), _),) = rules
    python_pattern = re.compile(pattern.removeprefix("~").replace("(?<", "(?P<"))
    for uri, logged in [
        ("/ws/chat/12/?token=eyJhbGciOi.secret.part&after=40", "/ws/chat/12/"),
        ("/ws/notifications?token=eyJhbGciOi.secret.part", "/ws/notifications"),
        ("/api/messages/3?limit=50", "/api/messages/3"),
        ("/healthz", "/healthz"),
    ]:
        assert python_pattern.match(uri).group(value.removeprefix("$")) == logged


def test_daphne_listens_only_behind_the_proxy():
    """Only nginx publishes a port (compose.yaml), and a host's daphne binds loopback (systemd)."""
    import yaml

    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    published = [name for name, service in compose["services"].items() if service.get("ports")]
    unit = (ROOT / "deploy" / "systemd" / "brewverse-web@.service").read_text()

    assert published == ["proxy"]
    assert re.search(r"^ExecStart=.* daphne -b 127\.0\.0\.1 ", unit, re.MULTILINE)


NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
needs_nginx = pytest.mark.skipif(NGINX is None or shutil.which("openssl") is None, reason="needs nginx and openssl")


def nginx_version() -> tuple[int, ...]:
    banner = subprocess.run([NGINX, "-v"], capture_output=True, text=True).stderr
    return tuple(int(part) for part in re.search(r"nginx/([\d.]+)", banner).group(1).split("."))


def nginx_for_a_host(directory: Path, upstreams: list[str], https_port: int, http_port: int) -> Path:
    """deploy/nginx.conf with docs/deploy.md's changes for a host without containers (no `resolver`,
    upstreams on loopback, the certificate's paths, `listen 443 ssl http2` before nginx 1.25), on
    free ports and with its files in `directory`; returns the main configuration, for `nginx -c`."""
    certificate = ["-keyout", str(directory / "privkey.pem"), "-out", str(directory / "fullchain.pem")]
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            *certificate,
        ],
        check=True,
        capture_output=True,
    )
    site = NGINX_CONF.read_text()
    site = re.sub(r"^resolver .*\n", "", site, flags=re.MULTILINE)
    upstream_servers = "".join(f"    server {address} max_fails=1 fail_timeout=5s;\n" for address in upstreams)
    site = re.sub(r"(    server web\d:8000 resolve .*;\n)+", upstream_servers, site)
    site = site.replace("/etc/nginx/certs/", f"{directory}/").replace("/var/log/nginx/", f"{directory}/")
    site = re.sub(r"listen \[::\]:\d+( ssl)?;\n", "", site)
    site = site.replace("listen 80;", f"listen 127.0.0.1:{http_port};")
    if nginx_version() < (1, 25, 1):
        site = site.replace("http2 on;\n", "").replace("listen 443 ssl;", "listen 443 ssl http2;")
    site = site.replace("listen 443 ssl", f"listen 127.0.0.1:{https_port} ssl")
    (directory / "site.conf").write_text(site)
    main = directory / "nginx.conf"
    main.write_text(
        f"pid {directory}/nginx.pid;\nerror_log {directory}/error.log;\nevents {{}}\n"
        f"http {{ include {directory}/site.conf; }}\n"
    )
    return main


@needs_nginx
def test_nginx_accepts_the_configuration(tmp_path):
    config = nginx_for_a_host(tmp_path, ["127.0.0.1:8001", "127.0.0.1:8002"], https_port=8443, http_port=8080)

    result = subprocess.run([NGINX, "-t", "-c", str(config), "-p", f"{tmp_path}/"], capture_output=True, text=True)

    assert result.returncode == 0, result.stderr


@contextmanager
def nginx_running(config: Path, port: int) -> Iterator[None]:
    process = subprocess.Popen(
        [NGINX, "-c", str(config), "-p", f"{config.parent}/", "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and process.poll() is None:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        assert process.poll() is None, process.stderr.read().decode()
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)


@needs_nginx
@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_through_nginx_sockets_open_and_their_tokens_stay_out_of_the_access_log(tmp_path, alice):
    """daphne behind deploy/nginx.conf (as on a host): a token socket opens with no Origin, a session
    socket from the page's own origin (port included) and not from another port, and the access log
    has every path but no query string."""
    browser = Client()
    browser.force_login(alice)
    session = f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"
    token = access_token(alice)
    https_port = free_port()
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE

    async def handshake(path: str, **options) -> int:
        try:
            async with connect(f"wss://127.0.0.1:{https_port}{path}", ssl=insecure, open_timeout=10, **options):
                return 101
        except InvalidStatus as refused:
            return refused.response.status_code

    async def handshakes() -> list[int]:
        page = f"https://127.0.0.1:{https_port}"
        other_port = f"https://127.0.0.1:{https_port + 1}"
        cookie = {"additional_headers": {"Cookie": session}}
        return [
            await handshake(f"/ws/notifications/?token={token}"),
            await handshake(f"/ws/notifications?token={token}&after=1"),
            await handshake("/ws/notifications/", origin=page, **cookie),
            await handshake("/ws/notifications/", origin=other_port, **cookie),
        ]

    with live_server(live_env(USE_X_FORWARDED_PROTO="true")) as server:
        config = nginx_for_a_host(tmp_path, [f"127.0.0.1:{server.port}"], https_port=https_port, http_port=free_port())
        with nginx_running(config, https_port):
            answers = asyncio.run(handshakes())
            health = urllib.request.urlopen(
                f"https://127.0.0.1:{https_port}/healthz?probe=1", context=insecure, timeout=10
            )
        server.wait_sockets_closed()
        daphne_log = server.log()
    access_log = (tmp_path / "access.log").read_text()

    assert answers == [101, 101, 101, 403], daphne_log
    assert health.status == 200
    assert '"GET /ws/notifications/ HTTP/1.1" 101' in access_log
    assert '"GET /ws/notifications HTTP/1.1" 101' in access_log
    assert '"GET /healthz HTTP/1.1" 200' in access_log
    assert "token" not in access_log
    assert "probe" not in access_log
    assert token not in daphne_log  # daphne logs a socket's path only
