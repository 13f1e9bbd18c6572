"""faxd's REST API (Kazoo-compatible Faxes API) on Falcon."""
