"""An Asterisk 22 that speaks AMI exactly as the recordings show, with real T.30 behind SendFAX.

``AMIEmulator`` listens on 127.0.0.1, accepts Login/Events/Originate/Getvar/Setvar/Hangup/
Redirect/CoreShowChannels/Ping/Logoff, and plays the dialplan of the recorded Asterisk
(context ``fax`` of ``acceptance/astconf.py``) plus faxd's own ``faxd-inbound`` /
``faxd-control`` contexts (dialplan/asterisk/extensions_faxd.conf):

=================  ==========================================================
far-end exten      behaviour (as recorded)
=================  ==========================================================
``rx<digits>``     answers, ``ReceiveFAX`` with station id ``RX-<digits>``
``hangupearly``    answers, hangs up 4 s later
``nofax``          answers, silence (T.30 times out after 60 s of line time)
``busy``           (not recorded) SIP 486 / ``Reason: 5``
anything else      no such extension (Local) / SIP 404 (PJSIP)
=================  ==========================================================

Not recorded, for faxd's tests: ``far_ends[number] = FarEnd("noanswer")`` (a trunk rings
until the Originate's Timeout: ``Reason: 3``) and ``FarEnd("t38_refuse")``.

Dial strings: ``Local/<exten>@<context>`` makes a Local pair (``;1`` runs the Originate's
application); ``PJSIP/<exten>@to-b`` loops back into this "Asterisk" through the recorded
endpoints ``to-b``/``from-a``; any other ``PJSIP/<number>@<endpoint>`` is a trunk whose far
end (a fax machine emulated with spandsp) is not an Asterisk channel.

On-net calls (not recorded; from Asterisk's source, see tests/data/asterisk/README.md): a
Local pair into ``faxd-inbound`` or into a context of ``goto_contexts`` (whose extensions
``Goto(faxd-inbound,${EXTEN},1)``) runs faxd-inbound on ``;2``, which keeps the outbound
call's Linkedid; faxd's ReceiveFAX there and the Originate's SendFAX on ``;1`` run one T.30
session, audio only (a Local half has no T.38 without a bridged T.38 peer). With
``endpoint_contexts["from-a"] = "faxd-inbound"`` the SIP loop ``to-b`` -> ``from-a`` (dialled
directly, or by a ``dial_contexts`` site context) ends in faxd-inbound on a PJSIP channel
with its own Linkedid, and T.38 passes.

``SendFAX``/``ReceiveFAX`` run real T.30 sessions with faxd's spandsp bindings (audio on
Local and audio PJSIP calls, T.38 when the far end and the options say so), unpaced, and the
events and ``VarSet`` passes that res_fax emits come in the recorded order with the values of
the real session. Failure injection: the far-end table above, ``far_ends[number] = FarEnd(...)``,
``reject_logins``, ``drop_connections()``, and ``fax_gate`` (an Event the T.30 sessions wait
for, to hold a fax "on the line" while a test drops the AMI connection).

The package follows the emulator's parts: ``model`` (channels, far ends, constants), ``wire``
(manager connections and actions), ``channels``, ``originate``, ``resfax`` (res_fax and T.30),
``inbound`` (calls into faxd-inbound, on-net loops) and ``emulator`` (the whole, its lifecycle).
"""
from faxd.testing.ami_emulator.emulator import AMIEmulator, main
from faxd.testing.ami_emulator.model import Channel, FarEnd, FaxRun, IncomingCall

__all__ = ["AMIEmulator", "Channel", "FarEnd", "FaxRun", "IncomingCall", "main"]
