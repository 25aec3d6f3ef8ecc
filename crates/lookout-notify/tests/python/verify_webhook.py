"""Checks a webhook request that lookout sent with the Standard Webhooks reference
library, independently of lookout's own signing code.

Reads {"secret": "whsec_...", "headers": {...}, "body": "..."} as JSON on stdin and prints
"valid" (exit 0) or "invalid: <why>" (exit 1).
"""

import json
import sys

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

request = json.load(sys.stdin)
try:
    Webhook(request["secret"]).verify(request["body"], request["headers"])
except WebhookVerificationError as e:
    print(f"invalid: {e}")
    sys.exit(1)
print("valid")
