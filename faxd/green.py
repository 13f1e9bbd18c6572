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


def settle_heap() -> None:
    """Once started: what exists now (modules, classes, configuration, pools) lives as long as
    the process, so it is moved out of the cyclic garbage collector's sight.

    A full collection walks every tracked object, and a node with thousands of calls on the
    line holds hundreds of thousands: each full collection stops every greenlet for its
    length (about 150 ms at 8,000 calls, measured by ``python -m bench esl``), which is the
    tail of the delay from a call's event to its effect committed. The objects of the
    start-up are about a tenth of that heap and never become garbage; frozen, they are no
    longer walked. Objects made later (calls, requests) are collected as before, and frozen
    ones are still freed when their last reference goes (only a cycle among them would stay).
    """
    import gc
    gc.collect()
    gc.freeze()
