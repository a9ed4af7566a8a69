"""Static files in production mode: collected with hashed names and served by whitenoise."""

import re

import pytest
from django.core.management import call_command
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture
def production_static(settings, tmp_path):
    settings.DEBUG = False
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": "brewverse.storage.StaticFilesStorage"}}
    call_command("collectstatic", "--noinput", verbosity=0)
    return tmp_path


def test_pages_link_hashed_files_that_whitenoise_serves_for_good(production_static):
    client = Client()  # a new client builds its middleware, so whitenoise scans the collected files
    html = client.get("/login").content.decode()

    css = re.search(r'href="(/static/css/app\.[0-9a-f]{12}\.css)"', html)
    assert css, html
    response = client.get(css.group(1), headers={"accept-encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "gzip"
    assert "immutable" in response.headers["Cache-Control"]


def test_es_modules_import_each_other_by_hashed_name(production_static):
    app_js = next((production_static / "js").glob("app.*.js"))
    imports = re.findall(r'from "\./([^"]+)"', app_js.read_text())

    assert imports
    for name in imports:
        assert re.fullmatch(r"[a-z]+\.[0-9a-f]{12}\.js", name), name
        assert (production_static / "js" / name).exists()
    response = Client().get(f"/static/js/{app_js.name}")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/javascript")
