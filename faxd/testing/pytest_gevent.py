"""pytest plugin loaded first (``-p faxd.testing.pytest_gevent``): patch before other plugins import ssl."""
from faxd.green import patch

patch()
