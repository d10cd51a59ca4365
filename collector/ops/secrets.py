"""secrets: the shape of a server key, so that one can be made, checked, and recognised
wherever it must not appear (a browser's request, a log line)."""

from __future__ import annotations

import re
import secrets

# Server keys authenticate back-end senders. The fixed prefix lets the browser endpoint
# recognise one that leaked into a page, and refuse it.
SECRET_PREFIX = "mxsk_"
_SECRET = re.compile(r"^mxsk_[A-Za-z0-9]{24,64}$")
_SECRET_BYTES = SECRET_PREFIX.encode()
# The prefix with any of its letters written as a JSON escape (\u006d for m, ...): what a
# JSON body means, not only what its bytes spell.
_SECRET_ESCAPED = re.compile(
    rb"(?:m|\\u006[dD])(?:x|\\u0078)(?:s|\\u0073)(?:k|\\u006[bB])(?:_|\\u005[fF])"
)


def holds_secret(text: bytes) -> bool:
    """Whether header or body text holds something shaped like a secret server key, as it
    is or JSON-escaped."""
    if b"\\u" not in text:
        return _SECRET_BYTES in text
    return _SECRET_ESCAPED.search(text) is not None


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_hex(16)


def is_secret(key: str) -> bool:
    """Whether ``key`` is a well-formed server key."""
    return _SECRET.match(key) is not None
