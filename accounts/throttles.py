"""Login throttles: one budget per username (guessing one account) and one per IP (spraying many).

`page_throttle_wait` applies them (and any other DRF throttle) to the server-rendered pages.
"""

import hashlib
import math
from types import SimpleNamespace

from rest_framework.throttling import SimpleRateThrottle


class LoginUsernameThrottle(SimpleRateThrottle):
    scope = "login_username"

    def get_cache_key(self, request, view) -> str | None:
        data = request.data if isinstance(request.data, dict) else {}
        username = data.get("username")
        if not isinstance(username, str) or not username:
            return None
        # Hashed: a username from the request is any text, and cache keys must stay short and plain.
        ident = hashlib.sha256(username.strip().lower().encode()).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": ident}


class LoginIPThrottle(SimpleRateThrottle):
    scope = "login_ip"

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class SignupIPThrottle(LoginIPThrottle):
    scope = "signup_ip"


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
