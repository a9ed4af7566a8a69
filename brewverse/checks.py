"""System checks of the production settings that `check --deploy` fails on, not merely warns about."""

from pathlib import Path

from django.conf import settings
from django.core.checks import Error, Tags, register


def secret_key_is_generated() -> bool:
    """The key is the development key generated into SECRET_KEY_FILE (brewverse/settings.py)."""
    path = Path(settings.SECRET_KEY_FILE)
    return path.is_file() and path.read_text().strip() == settings.SECRET_KEY


@register(Tags.security, deploy=True)
def check_production_settings(app_configs, **kwargs) -> list[Error]:
    errors = []
    if settings.DEBUG:
        errors.append(
            Error(
                "DEBUG is on: error pages show code and settings, cookies are sent over plain HTTP.",
                hint="Set DEBUG=false in production.",
                id="brewverse.E001",
            )
        )
    if secret_key_is_generated():
        errors.append(
            Error(
                f"SECRET_KEY is the development key generated into {settings.SECRET_KEY_FILE}.",
                hint="Set SECRET_KEY in the environment to 50 random characters of its own.",
                id="brewverse.E002",
            )
        )
    return errors
