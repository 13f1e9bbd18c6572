"""A real SMTP sink (aiosmtpd) in its own plain-asyncio process.

Run as ``python -m tests.integration.smtp.sink PORT [MAX_BYTES]``: prints ``{"port": N}`` once listening,
then one JSON line per message received (``mail_from``, ``rcpt_tos``, base64 ``data``).
aiosmtpd cannot share the gevent-patched test process (asyncio's running loop would leak
into every greenlet), so the tests talk to it over loopback like any relay.
"""
import asyncio
import base64
import json
import sys

from aiosmtpd.smtp import SMTP


class Handler:
    async def handle_DATA(self, server, session, envelope):
        print(json.dumps({"mail_from": envelope.mail_from, "rcpt_tos": list(envelope.rcpt_tos),
                          "data": base64.b64encode(envelope.original_content).decode()}), flush=True)
        return "250 2.0.0 Stored"


async def main(port: int, max_bytes: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(Handler(), hostname="sink.test", data_size_limit=max_bytes),
                                      "127.0.0.1", port)
    print(json.dumps({"port": server.sockets[0].getsockname()[1]}), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 0,
                     int(sys.argv[2]) if len(sys.argv) > 2 else 32 * 1024 * 1024))
