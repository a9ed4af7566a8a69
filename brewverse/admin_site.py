"""The admin site, with the moderators' work (the report queue) at the top of the index."""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig

# Models listed first on the index, in this order; the rest follow alphabetically.
PRIORITY = ["report", "message", "user", "auditentry"]


class BrewverseAdminSite(admin.AdminSite):
    site_header = "Brewverse moderation"
    site_title = "Brewverse admin"
    index_title = "Reports first"

    def get_app_list(self, request, app_label=None):
        apps = super().get_app_list(request, app_label)

        def rank(model: dict) -> tuple[int, str]:
            name = model["object_name"].lower()
            return (PRIORITY.index(name) if name in PRIORITY else len(PRIORITY), name)

        for app in apps:
            app["models"].sort(key=rank)
        apps.sort(key=lambda app: min((rank(m) for m in app["models"]), default=(99, "")))
        return apps


class BrewverseAdminConfig(AdminConfig):
    default_site = "brewverse.admin_site.BrewverseAdminSite"
