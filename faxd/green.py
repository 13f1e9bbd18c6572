"""Make the process green: must run before anything opens a socket or a connection."""
_done = False


def patch() -> None:
    global _done
    if _done:
        return
    from gevent import monkey
    monkey.patch_all()
    import psycogreen.gevent
    psycogreen.gevent.patch_psycopg()
    _done = True
