"""faxd: a fax server daemon."""
__version__ = "0.1.0"
