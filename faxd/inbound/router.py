"""InboundRouter: an incoming call -> the faxbox that owns the dialled number -> Reception."""
from __future__ import annotations

import logging

import gevent.pool

from faxd.errors import StoreError
from faxd.inbound.reception import Reception
from faxd.service import Service
from faxd.switch.base import InboundCall, InboundSwitch

logger = logging.getLogger(__name__)


class InboundRouter(Service):
    name = "inbound"

    def __init__(self, *, config, store, pipeline, switch: InboundSwitch, node: str, switch_name: str,
                 max_calls: int = 500):
        super().__init__(work=gevent.pool.Pool(max_calls))
        self._config = config
        self._store = store
        self._pipeline = pipeline
        self._switch = switch
        self._node = node
        self._switch_name = switch_name
        self.rejected_unknown = 0    # metric: calls to numbers no faxbox owns

    @property
    def active(self) -> int:
        """Calls being received now (/metrics)."""
        return len(self.work)

    def start(self):
        self._switch.on_incoming_call(self.handle)
        return []

    def handle(self, call: InboundCall) -> None:
        """Runs in the backend's greenlet for this call."""
        if not self.accepting or self.work.full():
            logger.warning("call %s to %s rejected: %s", call.call_id, call.to_number,
                           "shutting down" if not self.accepting else "too many calls")
            call.reject("NORMAL_TEMPORARY_FAILURE")
            return
        try:
            faxbox = self._store.faxbox_for_number(call.to_number)
        except StoreError as e:
            logger.warning("call %s rejected: %s", call.call_id, e)
            call.reject("NORMAL_TEMPORARY_FAILURE")
            return
        if faxbox is None:
            self.rejected_unknown += 1
            logger.warning("call %s from %s rejected: no faxbox owns %s", call.call_id, call.from_number,
                           call.to_number)
            call.reject("UNALLOCATED_NUMBER")
            return
        reception = Reception(config=self._config, store=self._store, pipeline=self._pipeline, node=self._node,
                              switch_name=self._switch_name, call=call, faxbox=faxbox)
        g = self.work.spawn(self._run, reception)
        g.join()

    @staticmethod
    def _run(reception: Reception) -> None:
        try:
            reception.run()
        except Exception:
            reception.log.exception("reception crashed")
