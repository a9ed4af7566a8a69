from django.apps import AppConfig


class BrewverseConfig(AppConfig):
    """The project itself, as an app for its own system checks."""

    name = "brewverse"

    def ready(self) -> None:
        from brewverse import checks  # noqa: F401  (registers them)
