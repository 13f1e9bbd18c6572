-- get_incoming_call --
-- A call whose lease ran out belongs to a node that died: it is not live any more.
SELECT id, account_id, faxbox_id, call_id, node, switch, from_number, from_name, to_number, progress,
       lease_expires, created, modified
  FROM incoming_calls
 WHERE id = %(id)s AND account_id = %(account_id)s
   AND (lease_expires IS NULL OR lease_expires > now());
