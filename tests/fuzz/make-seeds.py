#!/usr/bin/env python3
"""make-seeds.py - write the seed corpora of tests/fuzz/corpus/.

    tests/fuzz/make-seeds.py [REAL_LIST.xml]

Each target's seeds are the kinds of input its parser meets: the test
fixtures (tests/fixtures/), the shipped example configuration, and cases
taken from the unit tests.  The ANS XML seeds also include a sample of a
real list when its path is given (the March 2025 snapshot: its first 25
entries and those with the known quirks - mixed-case names, "L=" instead
of "ST=", DNs with spaces after the commas, a newline inside a contact -
and the same sample cut short).

The seeds are committed; run this again only to rebuild them (it replaces
the files it writes and leaves the corpus's other files alone).  Inputs the
fuzzer finds are not kept here: a crash's input goes to regressions/.
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIX = os.path.join(ROOT, "tests", "fixtures")


def fixture(name):
    with open(os.path.join(FIX, name), "rb") as f:
        return f.read()


def seed(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def address():
    cases = {
        "plain": "<dr.martin@chu-test.mssante.fr>",
        "bare": "user@example.fr",
        "case-dot": "<Dr.X@MEDECIN.MSSANTE.FR.>",
        "null": "<>",
        "patient": "<279035121518989@patient.mssante.fr>",
        "patient-corsica": "<185052A12345633@patient.mssante.fr>",
        "patient-badkey": "<279035121518988@patient.mssante.fr>",
        "route": "<@relay1,@relay2:user@host.fr>",
        "quoted": '<"jean dupont"@x.fr>',
        "quoted-at": '<"a@b"@medecin.mssante.fr>',
        "quoted-escape": '<"a\\"b"@x.fr>',
        "literal4": "<u@[192.0.2.1]>",
        "literal6": "<u@[IPv6:2001:db8::1]>",
        "idn-utf8": "<u@m\u00e9decin.mssant\u00e9.fr>",
        "idn-alabel": "<u@xn--mssant-bva.fr>",
        "percent": "<a%b@medecin.mssante.fr>",
        "bang": "<host!user@medecin.mssante.fr>",
        "specials": "<a+tag/x=y!#$%&'*?^_`{|}~@x.fr>",
        "lookalike": "<u@chu-lille.mssante.fr.example.com>",
        "crlf": "<user@x.fr\r\nRCPT TO:<a@b>>",
        "label63": "<u@" + "a" * 63 + ".fr>",
        "ins": "279035121518989",
    }
    for name, text in cases.items():
        seed("address", name, text)


def headers():
    cases = {
        "fin": "[FIN]",
        "fin-variant": "Re: RE : Fwd: [ fin ]\r\n",
        "fin-folded": "\r\n [FIN]",
        "fin-encoded": "=?UTF-8?Q?=5BFIN=5D?=",
        "mes": " Fin \r\n",
        "ctype-mixed": 'multipart/mixed; boundary="b1"',
        "ctype-folded": "Multipart/Alternative;\r\n\tboundary=b2; charset=utf-8",
        "ctype-2231": "multipart/mixed; boundary*0=a; boundary*1=b",
        "ctype-name": 'application/pdf; name="cr.pdf"',
        "ctype-quoted-semicolon": 'multipart/mixed; x="; boundary=A"; boundary=B',
        "disposition": 'inline; filename*=UTF-8\'\'compte-rendu.pdf',
    }
    for name, text in cases.items():
        seed("headers", name, text)


def bodyprobe():
    mixed = 'multipart/mixed; boundary="b1"'
    cases = {
        "plain-empty": (None, "\r\n\r\n"),
        "plain-text": (None, "Cordialement, Dr Martin\r\n"),
        "mime-empty": (mixed, "preambule\r\n--b1\r\nContent-Type: text/plain; charset=utf-8"
                              "\r\n\r\n  \r\n--b1--\r\nepilogue\r\n"),
        "mime-text": (mixed, "--b1\r\nContent-Type: text/plain\r\n\r\nBonjour\r\n--b1--\r\n"),
        "mime-attach": (mixed, '--b1\r\nContent-Type: text/plain\r\n\r\n\r\n--b1\r\n'
                               'Content-Type: application/pdf; name="cr.pdf"\r\n'
                               'Content-Disposition: attachment; filename="cr.pdf"\r\n'
                               '\r\n\r\n--b1--\r\n'),
        "mime-nested": (mixed, '--b1\r\nContent-Type: multipart/alternative;\r\n\tboundary="b2"'
                               '\r\n\r\n--b2\r\nContent-Type: text/plain\r\n\r\n\r\n--b2--\r\n'
                               '\r\n--b1--\r\n'),
        "mime-lf": ("Multipart/Alternative;\n boundary=b1",
                    "--b1 \t\nContent-Type: text/plain\nContent-Disposition: inline\n\n   \n"
                    "--b1\ncontent-type: text/plain\n\n--b1--  \n"),
        "mime-dup-boundary": ('multipart/mixed; boundary="A"; boundary="B"',
                              "--B\r\nContent-Type: text/plain\r\n\r\nsecret\r\n--B--\r\n"
                              "--A\r\n\r\n  \r\n--A--\r\n"),
        "mime-unclosed": (mixed, "--b1\r\n\r\n\r\n"),
    }
    for i, (name, (ct, body)) in enumerate(cases.items()):
        head = b"\xff" if ct is None else bytes([len(ct)]) + ct.encode()
        seed("bodyprobe", name, head + bytes([i * 37 % 256]) + body.encode())


def sample_list(real):
    """The first entries and the quirky ones of the real list, as a list."""
    text = real.decode("utf-8")
    head, rest = text.split("<ListeDomaines>", 1)
    entries = re.findall(r"[ \t]*<Domaine>.*?</Domaine>\n", rest, re.S)
    def dn(e):
        return e.split("<DNCertificatOperateur>")[-1].split("<")[0]

    quirky = [e for e in entries
              if re.search(r"<Nom>[^<]*[A-Z]", e) or ", " in dn(e) or ",L=" in dn(e)
              or re.search(r"<(Responsable|Support)Contact>[^<]*\n", e)]
    kept, seen = [], set()
    for i, e in enumerate(entries):
        if (i < 25 or e in quirky) and len(kept) < 40 and i not in seen:
            seen.add(i)
            kept.append(e)
    return (head + "<ListeDomaines>\n" + "".join(kept)
            + "    </ListeDomaines>\n</ListeBlancheMSSante>\n").encode()


def ansxml(real_path):
    for name in ["it-list.xml", "ans-small.xml", "ans-truncated.xml", "ans-html.html",
                 "ans-wrong-ns.xml", "ans-no-date.xml", "ans-empty.xml", "ctl-broken.xml"]:
        seed("ansxml", name, b"\x07" + fixture(name))
    seed("ansxml", "entity-decl.xml",
         b"\x01<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY a \"aaaa\">]>"
         b"<ListeBlancheMSSante xmlns=\"https://listeblanche.mssante.fr/schema\">&a;"
         b"</ListeBlancheMSSante>")
    if real_path:
        with open(real_path, "rb") as f:
            sample = sample_list(f.read())
        seed("ansxml", "real-sample.xml", b"\x2a" + sample)
        seed("ansxml", "real-sample-cut.xml", b"\x63" + sample[: len(sample) * 2 // 3])


def snapshot():
    head = ("# mssante-milter whitelist snapshot\nformat 1\nversion 7\n"
            "generated 2025-03-13T14:54:10Z\nsha256 " + "ab" * 32 + "\nsource /x.xml\n"
            "loaded 1741877650\nentries 3\n")
    seed("snapshot", "good", head + "count 2\ndomains\nmedecin.mssante.fr\nlgpi.mssante.fr\nend 2\n")
    seed("snapshot", "truncated", head + "count 2\ndomains\nmedecin.mssante.fr\n")
    seed("snapshot", "count-mismatch", head + "count 3\ndomains\na.fr\nb.fr\nend 3\n")
    seed("snapshot", "duplicate", head + "count 2\ndomains\na.fr\na.fr\nend 2\n")


def config():
    with open(os.path.join(ROOT, "postfix-examples", "mssante-milter.conf"), "rb") as f:
        seed("config", "example.conf", f.read())
    seed("config", "full.conf", """\
Socket inet:8895@127.0.0.1
SocketMode 0660
UserID mssante:postfix
PidFile /run/mssante-milter.pid
LocalDomains CHU-Exemple.MSSante.fr., medecin.mssante.fr\t lgpi.mssante.fr,,
PatientDomain patient.mssante.fr
WhitelistFile /var/lib/mssante-milter/listeblanchemssante.xml
Redis [::1]:6379
RedisPassword secret # a comment
RedisTimeout 500ms
RedisPrefix mssante:
SnapshotFile /var/lib/mssante-milter/snapshot
WhitelistPoll 10s
DryRun no
LogLevel debug
SyslogFacility local3
WhitelistURL https://espacedeconfiance.mssante.fr/listeblanchemssante.xml
WhitelistMaxSize 32M
WhitelistMinDomains 1000
WhitelistMaxShrink 20
WhitelistRefresh 6h
WhitelistMaxAge 3d
PatientKeyCheck warn
FinWithContent reject
PharmacyMailboxes pharmacie@chu-exemple.mssante.fr, @officine.chu-exemple.mssante.fr
ConversationTTL 30d
StatsInterval 15s
ShutdownTimeout 15s
Forwarding yes
NotifySMTP smtp://127.0.0.1:10027
NotifySender no-reply@chu-exemple.mssante.fr
NotifyRetry 30s
NotifyRetryMax 1h
NotifyMaxAttempts 50
""")
    seed("config", "errors.conf", "LocalDomains ok.mssante.fr bad..dom\nRedis unix:relative\n"
         "Socket inet:99999@host\nLogLevl info\nLocalDomains again.fr\nRedisTimeout\n"
         "WhitelistRefresh 500ms\n")


def rules_json():
    seed("rules_json", "two-rules.json", """\
{"rules": [
  {"mailbox": "dr.martin@chu-test.mssante.fr", "mode": "copy",
   "targets": ["secretariat@outlook.fr", "Confrere@Medecin.MSSante.fr"]},
  {"mailbox": "<cardio@chu-test.mssante.fr>", "mode": "Redirect", "targets": ["a@b.fr", "A@B.FR"]}
]}
""")
    seed("rules_json", "empty.json", '{"rules": []}')
    seed("rules_json", "bad-member.json",
         '{"rules": [{"mailbox": "a@b.fr", "mode": "copy", "targets": ["x@y.fr"], "x": 1}]}')
    seed("rules_json", "self.json",
         '{"rules": [{"mailbox": "a@b.fr", "mode": "copy", "targets": ["A@b.fr"]}]}')


def audit():
    seed("audit", "virtual", b"\x01" + fixture("fwd-virtual"))
    seed("audit", "aliases", b"\x02" + fixture("fwd-aliases"))
    seed("audit", "sieve", b"\x03" + fixture("fwd-mailbox.sieve"))
    seed("audit", "auto-sieve", b"\x00" + fixture("fwd-mailbox.sieve"))
    seed("audit", "virtual-crlf", b"\x01" + fixture("fwd-virtual").replace(b"\n", b"\r\n"))


def notify_template():
    seed("notify_template", "fixture.txt", fixture("fwd-notify-template.txt"))
    seed("notify_template", "long-line.txt",
         "Bonjour, un message s\u00e9curis\u00e9 attend dans %m, " * 4 + "100 %%.\r\n\tfin\r")


def message():
    scripts = {
        "outbound-ok": "AUTH\nMAIL <dr.martin@chu-test.mssante.fr>\n"
                       "RCPT <confrere@medecin.mssante.fr>\nDATA\nHDR Subject: Bilan\nEOH\n"
                       "BODY Bonjour\\r\\n\nEOM\n",
        "mixed-list": "MAIL <dr.martin@chu-test.mssante.fr>\nRCPT <confrere@medecin.mssante.fr>\n"
                      "RCPT <secretariat@outlook.fr>\nDATA\nEOM\n",
        "local-submission": "CONNECT local\nMAIL <dr.martin@chu-test.mssante.fr>\n"
                            "RCPT <x@gmail.com>\nDATA\nEOH\nEOM\n",
        "inbound": "MAIL <someone@gmail.com>\nRCPT <dr.martin@chu-test.mssante.fr>\n"
                   "MAIL <>\nRCPT <dr.martin@chu-test.mssante.fr>\nDATA\nEOM\n",
        "fin-empty": "CONV open\nMAIL <dr.martin@chu-test.mssante.fr>\n"
                     "RCPT <279035121518989@patient.mssante.fr>\nDATA\nHDR Subject: [FIN]\n"
                     "EOH\nBODY \\r\\n\nEOM\n",
        "fin-content": "MAIL <dr.martin@chu-test.mssante.fr>\n"
                       "RCPT <279035121518989@patient.mssante.fr>\nDATA\n"
                       "HDR X-MSS-MES: fin\nHDR Content-Type: text/plain\nEOH\n"
                       "BODY Cordialement\\r\\n\nEOM\n",
        "fin-mime-dup": "MAIL <dr.martin@chu-test.mssante.fr>\n"
                        "RCPT <185052A12345633@patient.mssante.fr>\nDATA\nHDR Subject: [FIN]\n"
                        "HDR Content-Type: multipart/mixed; boundary=\"A\"; boundary=\"B\"\nEOH\n"
                        "BODY --B\\r\\n\\r\\nsecret\\r\\n--B--\\r\\n--A\\r\\n\\r\\n--A--\\r\\n\nEOM\n",
        "patient-replies": "CONV open\nMAIL <279035121518989@patient.mssante.fr>\n"
                           "RCPT <dr.martin@chu-test.mssante.fr>\nRCPT <pharmacie@chu-test.mssante.fr>\n"
                           "DATA\nEOM\nCONV closed\nMAIL <279035121518989@patient.mssante.fr>\n"
                           "RCPT <dr.martin@chu-test.mssante.fr>\nABORT\n",
        "settings": "SET fin-accept\nSET ins-warn\nCONV down\nAUTH\nMAIL <>\n"
                    "RCPT <279035121518988@patient.mssante.fr>\nDATA\nHDR Subject: Re: [fin]\n"
                    "BODY x\nEOM\n",
    }
    for name, text in scripts.items():
        seed("message", name, text)


def main():
    real = sys.argv[1] if len(sys.argv) > 1 else None
    address()
    headers()
    bodyprobe()
    ansxml(real)
    snapshot()
    config()
    rules_json()
    audit()
    notify_template()
    message()


if __name__ == "__main__":
    main()
