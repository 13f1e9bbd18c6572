"""Run the ESL emulator on its own: ``python -m faxd.testing.esl [--port N] [--pace 1] [--no-dsp]``.

Prints ``listening <host>:<port>`` once ready and runs until SIGTERM/SIGINT or stdin closes.
"""
from faxd.green import patch

patch()

import argparse  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402

import gevent  # noqa: E402
import gevent.event  # noqa: E402
import gevent.os  # noqa: E402

from faxd.testing.esl.emulator import ESLEmulator  # noqa: E402


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m faxd.testing.esl", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8021)
    p.add_argument("--password", default="ClueCon")
    p.add_argument("--pace", type=float, default=0.0, help="1.0 replays recorded timing in real time; 0 unpaced")
    p.add_argument("--no-dsp", action="store_true", help="recorded fax figures instead of real T.30 sessions")
    p.add_argument("--route", action="append", default=[], metavar="NUMBER=ROUTE",
                   help="dialplan entry (NUMBER may be *), e.g. --route '*=receive' --route 100=socket")
    p.add_argument("--socket", default="127.0.0.1:8084", help="faxd's outbound-socket listener")
    p.add_argument("--spool", default=None)
    args = p.parse_args(argv)
    routes = dict(r.split("=", 1) for r in args.route) or {"*": "receive"}
    host, _, port = args.socket.rpartition(":")
    emu = ESLEmulator(args.password, args.host, args.port, routes=routes, socket_target=(host, int(port)),
                      spool=args.spool, dsp=not args.no_dsp, pace=args.pace).start()
    print(f"listening {emu.address[0]}:{emu.address[1]}", flush=True)
    done = gevent.event.Event()
    gevent.signal_handler(signal.SIGTERM, done.set)
    gevent.signal_handler(signal.SIGINT, done.set)

    def watch_stdin():
        try:
            while gevent.os.tp_read(sys.stdin.fileno(), 1024):
                pass
        except OSError:
            pass
        done.set()
    if not sys.stdin.isatty():
        gevent.spawn(watch_stdin)
    done.wait()
    emu.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
