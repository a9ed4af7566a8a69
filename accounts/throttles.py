"""Login throttles: one budget per username (guessing one account) and one per IP (spraying many).

Only failed logins spend these budgets: `login_succeeded` gives a successful login's attempt back.
`page_throttle_wait` applies them (and any other DRF throttle) to the server-rendered pages.
"""

import hashlib
import math
from types import SimpleNamespace

from rest_framework.throttling import SimpleRateThrottle


class FailureThrottle(SimpleRateThrottle):
    """A budget that only failures spend: `allow_request` charges every attempt as DRF's throttle does,
    and `refund` takes a successful one back.

    Charging first and refunding later, rather than counting a failure once it is known: Argon2 spends
    ~0.1 s on each password on purpose, and parallel guesses would all pass a check made before the
    first of them was counted.
    """

    def refund(self) -> None:
        key = getattr(self, "key", None)  # unset or None when allow_request did not count the attempt
        if key is None:
            return
        history = self.cache.get(key, [])
        try:
            history.remove(self.now)
        except ValueError:
            return  # already gone: expired, or overwritten by a concurrent attempt
        self.cache.set(key, history, self.duration)


class LoginUsernameThrottle(FailureThrottle):
    scope = "login_username"

    def get_cache_key(self, request, view) -> str | None:
        data = request.data if isinstance(request.data, dict) else {}
        username = data.get("username")
        if not isinstance(username, str) or not username:
            return None
        # Hashed: a username from the request is any text, and cache keys must stay short and plain.
        ident = hashlib.sha256(username.strip().lower().encode()).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": ident}


class LoginIPThrottle(FailureThrottle):
    scope = "login_ip"

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class SignupIPThrottle(LoginIPThrottle):
    """Every signup counts (nothing calls `refund`): a signup that works is what it limits."""

    scope = "signup_ip"


def login_succeeded(throttles: list[FailureThrottle]) -> None:
    """Gives back the attempt a successful login was charged, so that logging in never locks anyone out.

    Only that attempt: earlier failures stay counted until they expire. Clearing them on success would
    hand an attacker guessing one account a fresh budget each time its owner logs in, and that owner may
    be a script logging in every few seconds.
    """
    for throttle in throttles:
        throttle.refund()


def page_throttle_wait(request, throttles: list[SimpleRateThrottle]) -> int | None:
    """For server-rendered pages: seconds to wait when one of these API throttles refuses, else None.

    Pages spend the same budgets as the API, so switching between the two gains an attacker nothing.
    """
    # DRF throttles read `data`, `user`, `headers` and `META`; a Django request has POST, not data.
    shim = SimpleNamespace(data=request.POST.dict(), user=request.user, META=request.META, headers=request.headers)
    for throttle in throttles:
        if not throttle.allow_request(shim, None):
            return math.ceil(throttle.wait() or 1)
    return None
