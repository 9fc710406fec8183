#!/usr/bin/env python3
"""late_milter_session.py PORT SENDER RCPT - a milter session whose next
commands are already waiting when its end of message returns.

Speaks the milter protocol on 127.0.0.1:PORT as an MTA would (version 6,
no "no reply" steps), from an SMTP client 127.0.0.1 named
client.it.invalid: one message SENDER -> RCPT up to its body, then, in a
single write, its end of message, the MAIL FROM of a second message and
QUIT.  libmilter runs the commands it finds waiting on a session right
after a step, even once smfi_main() has returned: this is how a test
makes the daemon run steps after its stop (t_shutdown.sh).

Prints one line per reply after the body: "eom CODE" for the end of
message's final reply (modifications before it are skipped), "mail CODE
TEXT" for the second MAIL FROM, then "eof" when the daemon closes the
session.  CODE is the reply command letter (c continue, a accept, t
tempfail, r reject, y a reply with text).  Exits 1 on a protocol error.
"""
import socket
import struct
import sys

FINAL = b"acdrty"          # final replies (the rest are modifications)


def packet(cmd, data=b""):
    return struct.pack("!I", len(data) + 1) + cmd + data


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            return None
        out += chunk
    return out


def read_packet(s):
    head = recv_exact(s, 4)
    if head is None:
        return None, None
    body = recv_exact(s, struct.unpack("!I", head)[0])
    if not body:
        return None, None
    return body[:1], body[1:]


def final_reply(s, what):
    while True:
        cmd, data = read_packet(s)
        if cmd is None:
            sys.exit("late_milter_session: EOF waiting for the reply to " + what)
        if cmd in FINAL:
            return cmd, data


def step(s, cmd, data, what):
    s.sendall(packet(cmd, data))
    got, _ = final_reply(s, what)
    if got != b"c":
        sys.exit("late_milter_session: %s answered %r" % (what, got))


def main():
    port, sender, rcpt = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    s = socket.create_connection(("127.0.0.1", port), timeout=120)
    s.sendall(packet(b"O", struct.pack("!III", 6, 0x1FF, 0x2)))   # offer: no HELO
    if read_packet(s)[0] != b"O":
        sys.exit("late_milter_session: no option negotiation")
    step(s, b"C", b"client.it.invalid\0" + b"4" + struct.pack("!H", 40000)
         + b"127.0.0.1\0", "connect")
    step(s, b"M", ("<%s>\0" % sender).encode(), "MAIL")
    step(s, b"R", ("<%s>\0" % rcpt).encode(), "RCPT")
    step(s, b"T", b"", "DATA")
    step(s, b"L", b"Subject\0late milter session\0", "header")
    step(s, b"N", b"", "end of headers")
    step(s, b"B", b"Comment allez-vous ?\r\n", "body")
    s.sendall(packet(b"E") + packet(b"M", ("<%s>\0" % sender).encode()) + packet(b"Q"))
    cmd, _ = final_reply(s, "end of message")
    print("eom " + cmd.decode(), flush=True)
    cmd, data = final_reply(s, "the second MAIL")
    print("mail " + cmd.decode() + " " + data.rstrip(b"\0").decode("ascii", "replace"),
          flush=True)
    print("eof" if read_packet(s)[0] is None else "more", flush=True)


if __name__ == "__main__":
    main()
