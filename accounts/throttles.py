"""Login and signup throttles: one budget per account (guessing one password) and one per IP
(spraying many), shared by the API login, the login page and the admin's login.

They count with `chat.ratelimit` (atomic across processes). Only failed logins spend the login
budgets: `login_succeeded` gives a successful login's attempt back. `page_throttle_wait` applies them
(and any other DRF throttle) to the server-rendered pages.
"""

import hashlib
import math
import unicodedata
from types import SimpleNamespace

from rest_framework.throttling import BaseThrottle

from accounts.models import User
from chat.ratelimit import BudgetThrottle


class FailureThrottle(BudgetThrottle):
    """A budget that only failures spend: `allow_request` charges every attempt, and `refund` takes a
    successful one back.

    Charging first and refunding later, rather than counting a failure once it is known: Argon2 spends
    ~0.1 s on each password on purpose, and parallel guesses would all pass a check made before the
    first of them was counted.
    """


class LoginAccountThrottle(FailureThrottle):
    """Per account: a login name counts against the account it resolves to, so its username and its
    email (in any case) share one budget. A name that resolves to no account is counted on its own,
    normalised (NFKC, case-folded), so its variants share a budget too."""

    scope = "login_username"

    def get_cache_key(self, request, view) -> str | None:
        data = request.data if isinstance(request.data, dict) else {}
        name = data.get("username")
        if not isinstance(name, str) or not name:
            return None
        user = User.objects.for_login(name)
        if user is not None:
            ident = f"user-{user.pk}"
        else:
            # Hashed: a name from the request is any text, and cache keys must stay short and plain.
            folded = unicodedata.normalize("NFKC", name.strip()).casefold()
            ident = "name-" + hashlib.sha256(folded.encode()).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": ident}


class LoginIPThrottle(FailureThrottle):
    scope = "login_ip"

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class SignupIPThrottle(LoginIPThrottle):
    """Every signup counts (nothing calls `refund`): a signup that works is what it limits."""

    scope = "signup_ip"


class VerificationResendIPThrottle(LoginIPThrottle):
    """Verification links asked for again, per client IP (THROTTLE_VERIFICATION_RESEND); every request
    counts..."""

    scope = "verification_resend"


class VerificationResendNameThrottle(LoginAccountThrottle):
    """...and per account named, resolved as a login name is, so that nobody's inbox can be flooded
    from many addresses or under many spellings."""

    scope = "verification_resend"


class PasswordResetIPThrottle(LoginIPThrottle):
    """Every "forgot password" request counts: each one sends an email."""

    scope = "password_reset_ip"


def login_throttles() -> list[FailureThrottle]:
    """The budgets every login spends (API, page, admin), fresh for one attempt: the instances that
    charged it are the ones that can refund it."""
    return [LoginIPThrottle(), LoginAccountThrottle()]


def login_succeeded(throttles: list[FailureThrottle]) -> None:
    """Gives back the attempt a successful login was charged, so that logging in never locks anyone out.

    Only that attempt: earlier failures stay counted until they expire. Clearing them on success would
    hand an attacker guessing one account a fresh budget each time its owner logs in, and that owner may
    be a script logging in every few seconds.
    """
    for throttle in throttles:
        throttle.refund()


def page_throttle_wait(request, throttles: list[BaseThrottle]) -> int | None:
    """For server-rendered pages: seconds to wait when one of these API throttles refuses, else None.

    Pages spend the same budgets as the API, so switching between the two gains an attacker nothing.
    """
    # DRF throttles read `data`, `user`, `headers` and `META`; a Django request has POST, not data.
    shim = SimpleNamespace(data=request.POST.dict(), user=request.user, META=request.META, headers=request.headers)
    for throttle in throttles:
        if not throttle.allow_request(shim, None):
            return math.ceil(throttle.wait() or 1)
    return None
