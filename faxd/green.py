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


# Allocations between two young collections (CPython's default: 700). A node with thousands of
# calls makes objects fast, most of them short-lived (an event, its headers, a write's
# arguments); at 700 a collection comes every few ms, each promotes what is alive at that
# instant, and the old generations fill with objects that die soon after, which full
# collections then walk. At 10,000 most of them die before the young collection, which
# costs a few ms: at 8,000 calls no full collection ran in the benchmark's 87 s step (5 at
# 700, 260-430 ms of standstill in all; docs/freeswitch.md).
YOUNG_THRESHOLD = 10_000


def settle_heap() -> None:
    """Once started: what exists now (modules, classes, configuration, pools) lives as long as
    the process, so it is moved out of the cyclic garbage collector's sight, and young
    collections come every YOUNG_THRESHOLD allocations.

    A full collection walks every tracked object, and a node with thousands of calls on the
    line holds hundreds of thousands: each full collection stops every greenlet for its
    length (60-150 ms at 8,000 calls, measured by ``python -m bench esl``), and every event
    that arrives meanwhile waits that long for its effect to be committed. The objects of the
    start-up never become garbage; frozen, they are no longer walked. Objects made later
    (calls, requests) are collected as before, and frozen ones are still freed when their last
    reference goes (only a cycle among them would stay).
    """
    import gc
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
