"""pytest plugin for the a2a-tck: its HTTP requests carry the DealScale bearer token, and wait out a 429.

The TCK has no authentication option, and several of its tests call httpx directly, so the header
goes on every httpx client. The agents' rate limit (600 requests a minute, bursts of 100 per tenant)
is part of what is tested: the suite's few hundred requests in seconds exceed it, and a client is
expected to honour Retry-After, which the TCK's clients do not; a 429 is waited out and the request
sent again, so each test sees the answer to its request. The tests themselves are left as they are.
Loaded with `-p dealscale_bearer` (this folder on PYTHONPATH), token in DEALSCALE_TCK_BEARER.
"""

import os
import time

import httpx

_AUTHORIZATION = f"Bearer {os.environ['DEALSCALE_TCK_BEARER']}"
_MAX_WAITS = 30


def _with_bearer(cls):
    original = cls.__init__

    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.headers.setdefault("Authorization", _AUTHORIZATION)

    cls.__init__ = __init__


def _waiting_out_429():
    original = httpx.HTTPTransport.handle_request

    def handle_request(self, request):
        for _ in range(_MAX_WAITS):
            response = original(self, request)
            if response.status_code != 429:
                return response
            response.read()
            response.close()
            time.sleep(float(response.headers.get("retry-after", "1")))
        return original(self, request)

    httpx.HTTPTransport.handle_request = handle_request


_with_bearer(httpx.Client)
_with_bearer(httpx.AsyncClient)
_waiting_out_429()
