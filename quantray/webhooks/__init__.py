"""quantray.webhooks: outgoing webhooks signed with HMAC-SHA256 over timestamp + body, retried with backoff,
with a dead-letter list. Subscriptions live in ``$QUANTRAY_HOME/webhooks.json``.

Example:
    >>> from quantray.webhooks import signature_header, verify_signature
    >>> verify_signature("secret", signature_header("secret", b'{"a":1}'), b'{"a":1}')
    True
"""

from __future__ import annotations

from quantray.webhooks._deliver import (
    EVENTS,
    DeadLetters,
    DeliveryResult,
    Subscription,
    SubscriptionStore,
    deliver,
    dispatch,
)
from quantray.webhooks._sign import SIGNATURE_HEADER, sign, signature_header, verify_signature

__all__ = [
    "EVENTS",
    "SIGNATURE_HEADER",
    "DeadLetters",
    "DeliveryResult",
    "Subscription",
    "SubscriptionStore",
    "deliver",
    "dispatch",
    "sign",
    "signature_header",
    "verify_signature",
]
