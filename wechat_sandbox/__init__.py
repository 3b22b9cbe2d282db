"""wechat_sandbox — a local emulator of the WeChat Official Account (公众号) HTTP API.

The test double of the platform: it speaks the WeChat API paths and JSON shapes, enforces the platform's
rules with real error codes, keeps what every fan received, pushes signed/encrypted callbacks, and lets
tests inject faults and move its clock through the admin API under ``/sandbox/``. It shares no code with
the production client on purpose.
"""

__version__ = "0.1.0"
