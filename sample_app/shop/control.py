"""``/faults/``: read and flip the fault-injection switch over HTTP, guarded by a bearer token.

The endpoint exists only when ``SHOP_FAULTS_TOKEN`` is set (404 otherwise). It takes no cookies,
so it is exempt from CSRF: the token in the ``Authorization`` header is the credential.

* ``GET`` returns the current state;
* ``POST`` merges the JSON body into it (``{"error_rate": 0.5}``);
* ``PUT`` replaces it; ``DELETE`` clears every fault.
"""

from __future__ import annotations

import hmac
import json
import os

from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from sample_app.shop import faults

TOKEN_ENV = "SHOP_FAULTS_TOKEN"  # noqa: S105 - the variable's name, not a secret


def _authorised(request: HttpRequest, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@csrf_exempt
@require_http_methods(["GET", "POST", "PUT", "DELETE"])
def fault_switch(request: HttpRequest) -> JsonResponse:
    token = os.environ.get(TOKEN_ENV)
    if not token or faults.faults_path() is None:
        raise Http404("fault injection is not enabled")
    if not _authorised(request, token):
        response = JsonResponse({"error": "a valid bearer token is required"}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="faults"'
        return response
    if request.method == "GET":
        return JsonResponse(faults.current().to_dict())
    if request.method == "DELETE":
        return JsonResponse(faults.clear().to_dict())
    try:
        state = _new_state(request.body, merge=request.method == "POST")
    except (TypeError, ValueError) as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    faults.write(state)
    return JsonResponse(state.to_dict())


def _new_state(body: bytes, *, merge: bool) -> faults.Faults:
    """The state a POST (``merge``) or PUT body asks for; TypeError/ValueError when invalid."""
    data = json.loads(body or b"{}")
    if not isinstance(data, dict):
        raise TypeError("expected a JSON object")
    if merge:
        # Validate the keys first, so a typo is reported rather than merged away.
        faults.Faults.from_dict(data)
        data = {**faults.current().to_dict(), **data}
    return faults.Faults.from_dict(data)
