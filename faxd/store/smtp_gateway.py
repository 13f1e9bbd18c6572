"""Store methods: smtp_gateway."""
from __future__ import annotations


class SmtpGatewayMixin:
    pass
