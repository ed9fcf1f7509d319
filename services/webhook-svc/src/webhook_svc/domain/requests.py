"""What one attempt sends: the body as sent (encrypted when the webhook encrypts) and its
headers (CONTRACT 7).

Headers: `content-type: application/json`, Standard Webhooks `webhook-id`,
`webhook-timestamp` and `webhook-signature` (signed over the body *as sent*, with every signing
secret valid now: two during a rotation), and the batch's `x-parley-meta-<key>` headers.
A fresh IV and timestamp per attempt; the body and `webhook-id` stay those of the batch.
"""

from __future__ import annotations

from datetime import datetime

from parley_shared.envelope import seal_bytes
from parley_shared.signing import webhook_headers

from webhook_svc.domain.records import Delivery
from webhook_svc.domain.webhooks import Webhook
from webhook_svc.errors import CannotSend

CONTENT_TYPE = "application/json"


def build_request(hook: Webhook, delivery: Delivery, at: datetime) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one attempt of `delivery` to `hook` at time `at`."""
    body = delivery.body
    if hook.encrypt:
        if hook.encryption is None:
            raise CannotSend("the webhook encrypts but its key is not in the config event")
        body = seal_bytes(body, hook.encryption)
    secrets = hook.secrets_at(at)
    if not secrets:
        raise CannotSend("the account has no valid webhook signing secret")
    headers = {"content-type": CONTENT_TYPE}
    headers.update(webhook_headers(secrets, delivery.batch_id, body, int(at.timestamp())))
    headers.update(delivery.headers)
    return body, headers
