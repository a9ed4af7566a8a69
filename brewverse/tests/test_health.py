"""`/healthz`: the database and the channel layer, each named when it fails."""

import pytest
from django.test import Client, override_settings

pytestmark = pytest.mark.django_db

UNREACHABLE_REDIS = {
    "default": {
        "BACKEND": "brewverse.channel_layers.RedisChannelLayer",
        # Port 9 (discard) has nothing listening: connections are refused at once.
        "CONFIG": {"hosts": ["redis://127.0.0.1:9/0"]},
    }
}


def test_healthz_reports_ok_without_authentication():
    response = Client().get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "channel_layer": "ok"}


def test_healthz_names_a_channel_layer_that_does_not_answer():
    with override_settings(CHANNEL_LAYERS=UNREACHABLE_REDIS):
        response = Client().get("/healthz")

    assert response.status_code == 503
    assert response.json() == {"status": "failing", "database": "ok", "channel_layer": "failing"}
    # The real layer is back once the setting is.
    assert Client().get("/healthz").status_code == 200
