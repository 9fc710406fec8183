#!/usr/bin/python3
"""smtpprobe.py - steady SMTP traffic through several MX nodes, one line per
reply, for bench/failover.sh.

  smtpprobe.py --ports P1,P2 --stop FILE --out FILE [--threads N]
               [--sender ADDR] [--patient-base N] [--peer ADDR]

Each thread sends one message after the other, alternating the nodes and
two kinds: "patient" (a professional writing to a patient: a conversation
write, acknowledged by RedisMinReplicas replicas) and "plain" (to an
MSSante peer: no Redis on the path).  Every message's final reply is one
line of --out: "TIME KIND NODE CODE" (CODE 0: no reply, the connection
failed).  A deferred message is not resent: the next one follows at once,
so the lines sample the service continuously.  Stops when --stop exists.

Standard library only; run with /usr/bin/python3.
"""

import argparse
import os
import smtplib
import socket
import sys
import threading
import time


def ins(n):
    """A valid INS matricule, unique for n."""
    nir = "1790675%06d" % n
    return "%s%02d" % (nir, 97 - int(nir) % 97)


def one(port, sender, rcpt, subject):
    body = "From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n\r\nProbe.\r\n" % (sender, rcpt, subject)
    try:
        s = smtplib.SMTP("127.0.0.1", port, timeout=30, local_hostname="probe.bench.invalid")
        try:
            code, _ = s.ehlo()
            if code != 250:
                return code
            code, _ = s.mail(sender)
            if code != 250:
                return code
            code, _ = s.rcpt(rcpt)
            if code not in (250, 251):
                return code
            code, _ = s.data(body.encode())
            return code
        finally:
            try:
                s.quit()
            except (smtplib.SMTPException, OSError):
                pass
    except smtplib.SMTPResponseException as e:
        return e.smtp_code
    except (smtplib.SMTPException, OSError, socket.timeout):
        return 0


def worker(a, k, ports, out, lock):
    n = 0
    while not os.path.exists(a.stop):
        node = (k + n) % len(ports)
        kind = "patient" if n % 2 == 0 else "plain"
        rcpt = ("%s@patient.mssante.fr" % ins(a.patient_base + k)) if kind == "patient" else a.peer
        code = one(ports[node], a.sender, rcpt, "probe %d %d" % (k, n))
        with lock:
            out.write("%.3f %s %s %d\n" % (time.time(), kind, "AB"[node % 2], code))
            out.flush()
        n += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ports", required=True)
    ap.add_argument("--stop", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--sender", default="dr.probe@chu-test.mssante.fr")
    ap.add_argument("--peer", default="confrere.probe@medecin.mssante.fr")
    ap.add_argument("--patient-base", type=int, default=5000)
    a = ap.parse_args()
    ports = [int(p) for p in a.ports.split(",") if p]
    lock = threading.Lock()
    with open(a.out, "a") as out:
        ts = [threading.Thread(target=worker, args=(a, k, ports, out, lock), daemon=True)
              for k in range(a.threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
