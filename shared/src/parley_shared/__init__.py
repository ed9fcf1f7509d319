"""Parley contracts shared by every service.

Only what every service must agree on lives here: subject and stream names, the CloudEvents
envelope and event models, the payload encryption envelope, secret sealing, Standard Webhooks
signing and the logging setup. No database code, no broker wiring beyond stream definitions,
no business rules.
"""

__version__ = "0.1.0"
