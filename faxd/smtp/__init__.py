"""Email-to-fax: the SMTP gateway (server.py: protocol; gateway.py: policy; service.py: supervision)."""
