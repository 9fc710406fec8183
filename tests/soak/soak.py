#!/usr/bin/python3
"""soak.py - the traffic of tests/soak/soak.sh: what to send, what the rules
say must become of each message, sending it (retrying 4xx as an MTA
would), and reconciling what really happened.

  soak.py plan      --dir W --messages N [--seed S]
  soak.py send      --dir W --smtp PORT --postfix-etc DIR --duration S --deadline S
  soak.py reconcile --dir W --sink DIR --postfix-etc DIR --milter-log F
  soak.py selfcheck --dir W --sink DIR --postfix-etc DIR --milter-log F

Several MX nodes (tests/integration/t_nodes_failover.sh): --smtp, --postfix-etc
and --milter-log each take a comma-separated list, one entry per node, in
the same order.  The steps of a job go through the nodes in turn (a
conversation opened through one node is answered through the next), and
each new attempt of a deferred message through the next node, as a client
MTA retrying another MX would; the reconciliation reads every node's queue
and log.

`plan` writes W/plan.json (every message with its expectation) and
W/forwards.txt (the forwarding rules the messages rely on: soak.sh loads
them with mssantectl).  `send` releases the messages evenly over
--duration seconds from several sessions in parallel (smtp-source for bulk
batches, smtplib for crafted messages, sendmail(1) for local submissions),
retries every 4xx with a short backoff until --deadline, and writes
W/results.json and W/attempts.jsonl (one line per SMTP reply that ended an
attempt, with its time).  `reconcile` reads those, the capture sink, the
Postfix queue and W/faults.tsv (written by soak.sh) and prints one line per
fault, the held messages and their reasons, and the last line
`lost=N wrong_accept=N wrong_refuse=N duplicated=N`; exit status 0 when all
four are 0.  `selfcheck` plants a duplicate, a loss and a wrong delivery in
a copy of the sink and checks that the reconciliation counts each one.

The expectation of each message is derived from how it was built, from the
rules of MSSANTE.md section 5 and the README, never from the daemon's log
(which is read only to say why a message was held).  Traffic comes from
127.0.0.1, and every kind of message here gets the same verdict whether a
client on 127.0.0.1 counts as "inside" (InternalHosts) or not: no foreign
or null sender writes to a non-local classic address, no outside sender
uses a local domain, no route addresses.

Each command is a module of its own beside this file: soak_plan.py,
soak_send.py, soak_reconcile.py (reconcile and selfcheck), and
soak_common.py for the addresses they share.

Standard library only; run with /usr/bin/python3.
"""


import argparse
import sys

from soak_plan import cmd_plan
from soak_reconcile import cmd_reconcile, cmd_selfcheck
from soak_send import cmd_send


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("plan")
    p.add_argument("--dir", required=True)
    p.add_argument("--messages", type=int, required=True)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--slow", type=int, default=8,
                   help="messages held open in DATA across a stop of the daemon")
    p.add_argument("--think", type=float, default=10.0,
                   help="longest wait between two steps of a conversation (s)")
    p = sub.add_parser("send")
    p.add_argument("--dir", required=True)
    p.add_argument("--smtp", required=True, help="PORT[,PORT...]: one per node")
    p.add_argument("--postfix-etc", required=True)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--deadline", type=float, required=True)
    p.add_argument("--sessions", type=int, default=8)
    p = sub.add_parser("reconcile")
    p.add_argument("--dir", required=True)
    p.add_argument("--sink", required=True)
    p.add_argument("--postfix-etc", required=True)
    p.add_argument("--milter-log", required=True)
    p = sub.add_parser("selfcheck")
    p.add_argument("--dir", required=True)
    p.add_argument("--sink", required=True)
    p.add_argument("--postfix-etc", required=True)
    p.add_argument("--milter-log", required=True)
    a = ap.parse_args()
    return {"plan": cmd_plan, "send": cmd_send, "reconcile": cmd_reconcile,
            "selfcheck": cmd_selfcheck}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
