"""The admin site, with the moderators' work (the report queue) at the top of the index, and a login
that spends the same budgets as every other login."""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.core.exceptions import NON_FIELD_ERRORS

# Models listed first on the index, in this order; the rest follow alphabetically.
PRIORITY = ["report", "message", "user", "auditentry"]


class BrewverseAdminSite(admin.AdminSite):
    site_header = "Brewverse moderation"
    site_title = "Brewverse admin"
    index_title = "Reports first"

    @property
    def login_form(self):
        """Django's admin login form, spending the login budgets of the API and the login page."""
        # Imported here: this module loads with the app registry (BrewverseAdminConfig), before forms can.
        from accounts.forms import AdminLoginForm

        return AdminLoginForm

    def login(self, request, extra_context=None):
        """A refusal by the login budgets is a 429, like the other logins'."""
        response = super().login(request, extra_context)
        form = getattr(response, "context_data", {}).get("form")
        if form is not None and form.has_error(NON_FIELD_ERRORS, "throttled"):
            response.status_code = 429
        return response

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
