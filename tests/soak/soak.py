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

Standard library only; run with /usr/bin/python3.
"""

import argparse
import email.utils
import heapq
import json
import os
import random
import re
import smtplib
import socket
import subprocess
import sys
import threading
import time

LOCAL = "chu-test.mssante.fr"
LOCAL2 = "autre-site.chu-test.mssante.fr"
PEERS = ["medecin.mssante.fr", "chu-lille.mssante.fr", "pharmacien.mssante.fr",
         "interop-mssante.apicrypt.org", "mssante.apicrypt.org"]
# Not MSSante: ordinary mail services and the lookalikes of MSSANTE.md 1.
CLASSIC = ["outlook.fr", "gmail.com", "laposte.net", "evilmssante.fr",
           "chu-lille.mssante.fr.example.com", "interop-mssante.apycrypt.org",
           "apicrypt.org", "mssante.fr"]
PATIENTS = "patient.mssante.fr"
PHARMACY = "pharmacie@" + LOCAL
NOTICE_SENDER = "no-reply@" + LOCAL
HELO = "client.soak.invalid"
FWD_MAILBOXES = 4          # per forwarding kind

ENH = re.compile(r"^([245]\.\d{1,3}\.\d{1,3})\b")


# ---------------------------------------------------------------- INS

def ins_key(nir):
    """The 2-digit key of a 13-character NIR (2A/2B count as 19/18)."""
    n = int(nir.replace("2A", "19").replace("2B", "18"))
    return 97 - n % 97


def patient(n, corsica=False):
    """A valid matricule, unique for n."""
    if corsica:
        nir = "1850" + "52A" + "%06d" % n
    else:
        nir = "2800175" + "%06d" % n
    return "%s%02d" % (nir, ins_key(nir))


def bad_key(matricule):
    """The same matricule with its key mistyped."""
    k = int(matricule[13:])
    return "%s%02d" % (matricule[:13], k % 97 + 1)


# ---------------------------------------------------------------- plan

class Planner:
    """Builds jobs: a job is a list of messages sent one after the other
    (a conversation needs its previous step's final verdict first)."""

    def __init__(self, rng, think):
        self.rng = rng
        self.think = think
        self.jobs = []
        self.messages = {}
        self.count = 0
        self.n_patient = 0
        self.forwards = []
        self.fwd = {"copy-mss": [], "redirect-mss": [], "copy-classic": [], "redirect-classic": []}
        self.setup_forwards()

    def setup_forwards(self):
        for k in range(FWD_MAILBOXES):
            a = "fwd.copy%d@%s" % (k, LOCAL)
            t = "copie%d@chu-lille.mssante.fr" % k
            self.forwards.append((a, "copy", t))
            self.fwd["copy-mss"].append((a, t))
            b = "fwd.redir%d@%s" % (k, LOCAL)
            t = "remplacant%d@pharmacien.mssante.fr" % k
            self.forwards.append((b, "redirect", t))
            self.fwd["redirect-mss"].append((b, t))
            c = "fwd.notice%d@%s" % (k, LOCAL)
            t = "secretariat%d@outlook.fr" % k
            self.forwards.append((c, "copy", t))
            self.fwd["copy-classic"].append((c, t))
            d = "fwd.away%d@%s" % (k, LOCAL)
            t = "dr.away%d@gmail.com" % k
            self.forwards.append((d, "redirect", t))
            self.fwd["redirect-classic"].append((d, t))

    def new_id(self):
        self.count += 1
        return "m%06d" % self.count

    def new_patient(self):
        self.n_patient += 1
        return patient(self.n_patient, corsica=self.n_patient % 7 == 0)

    def msg(self, kind, sender, rcpts, expect, via="smtp", subject=None, body=None,
            headers=(), mid=None):
        if mid is None:
            mid = self.new_id()
        else:
            self.count += 1
        m = {
            "id": mid, "kind": kind, "via": via, "sender": sender, "rcpts": list(rcpts),
            "subject": subject if subject is not None else "soak %s %s" % (kind, mid),
            "body": body if body is not None else "Soak message %s (%s).\n" % (mid, kind),
            "headers": list(headers), "expect": expect,
        }
        self.messages[mid] = m
        return mid

    @staticmethod
    def accept(deliver, refuse_rcpt=None, notices=()):
        return {"class": "accept", "deliver": list(deliver),
                "rcpt_refuse": dict(refuse_rcpt or {}), "notices": list(notices)}

    @staticmethod
    def reject(code):
        return {"class": "reject", "code": code, "deliver": []}

    def job(self, kind, ids, bulk=None):
        self.jobs.append({"kind": kind, "ids": ids, "bulk": bulk})

    # -- bulk batches: smtp-source, one envelope sender per batch; the
    # recipient gets smtp-source's sequence number (-N) in front.
    def bulk(self, size):
        b = len([j for j in self.jobs if j["bulk"]]) + 1
        kind = self.rng.choice(["bulk-out", "bulk-out", "bulk-in", "bulk-in", "bulk-relay",
                                "bulk-classic", "bulk-inclassic"])
        peer = self.rng.choice(PEERS)
        if kind == "bulk-out":
            sender, base, exp = "bulk%d@%s" % (b, LOCAL), "dr.bulk@" + peer, "accept"
        elif kind == "bulk-in":
            sender, base, exp = "bulk%d@%s" % (b, peer), "dr.bulk@" + LOCAL, "accept"
        elif kind == "bulk-relay":
            other = self.rng.choice([p for p in PEERS if p != peer])
            sender, base, exp = "bulk%d@%s" % (b, peer), "dr.bulk@" + other, "accept"
        elif kind == "bulk-classic":
            sender, base, exp = ("bulk%d@%s" % (b, LOCAL),
                                 "contact@" + self.rng.choice(CLASSIC), "reject")
        else:
            sender, base, exp = ("bulk%d@%s" % (b, self.rng.choice(CLASSIC)),
                                 "dr.bulk@" + LOCAL, "reject")
        ids = []
        for k in range(1, size + 1):
            rcpt = "%d%s" % (k, base)
            e = self.accept([rcpt]) if exp == "accept" else self.reject("5.7.1")
            ids.append(self.msg(kind, sender, [rcpt], e, via="bulk",
                                mid="b%04d-%d" % (b, k), subject="soak bulk %d" % b))
        self.job(kind, ids, bulk={"sender": sender, "base": base, "size": size})

    # -- crafted messages, one per job
    def single(self):
        r = self.rng
        n = self.count + 1
        me = "dr.s%d@%s" % (n, LOCAL)
        peer = "confrere.s%d@%s" % (n, r.choice(PEERS))
        classic = "contact.s%d@%s" % (n, r.choice(CLASSIC))
        kind = r.choice(["out-mss", "out-mss", "out-local", "out-classic", "out-mixed",
                         "in-mss", "in-mss", "in-null", "in-classic", "relay",
                         "patient-badkey", "patient-mixed", "patient-first", "pharmacy",
                         "fwd", "fwd", "fwd"])
        if kind == "out-mss":
            rc = ["dr.s%d.%d@%s" % (n, i, d) for i, d in enumerate(r.sample(PEERS, r.randint(1, 3)))]
            ids = [self.msg(kind, me, rc, self.accept(rc))]
        elif kind == "out-local":
            rc = ["collegue.s%d@%s" % (n, LOCAL2)]
            ids = [self.msg(kind, me, rc, self.accept(rc))]
        elif kind == "out-classic":
            ids = [self.msg(kind, me, [classic], self.reject("5.7.1"))]
        elif kind == "out-mixed":
            rc = [peer, classic]
            r.shuffle(rc)
            ids = [self.msg(kind, me, rc, self.reject("5.7.1"))]
        elif kind == "in-mss":
            rc = ["dr.s%d@%s" % (n, LOCAL)]
            if r.random() < 0.3:
                rc.append("accueil.s%d@%s" % (n, LOCAL2))
            ids = [self.msg(kind, peer, rc, self.accept(rc))]
        elif kind == "in-null":
            rc = ["dr.s%d@%s" % (n, LOCAL)]
            ids = [self.msg(kind, "", rc, self.accept(rc))]
        elif kind == "in-classic":
            ids = [self.msg(kind, classic, ["dr.s%d@%s" % (n, LOCAL)], self.reject("5.7.1"))]
        elif kind == "relay":
            rc = ["dr.s%d@%s" % (n, r.choice(PEERS))]
            ids = [self.msg(kind, peer, rc, self.accept(rc))]
        elif kind == "patient-badkey":
            bad = "%s@%s" % (bad_key(self.new_patient()), PATIENTS)
            ids = [self.msg(kind, me, [bad], self.reject("5.1.1"))]
        elif kind == "patient-mixed":
            good = "%s@%s" % (self.new_patient(), PATIENTS)
            bad = "%s@%s" % (bad_key(self.new_patient()), PATIENTS)
            ids = [self.msg(kind, me, [good, bad], self.accept([good], {bad: "5.1.1"}))]
        elif kind == "patient-first":
            p = "%s@%s" % (self.new_patient(), PATIENTS)
            ids = [self.msg(kind, p, [me], self.reject("5.7.1"))]
        elif kind == "pharmacy":
            p = "%s@%s" % (self.new_patient(), PATIENTS)
            ids = [self.msg(kind, p, [PHARMACY], self.accept([PHARMACY]))]
        else:
            kind, ids = self.forwarded(peer)
        self.job(kind, ids)

    def forwarded(self, peer, kind=None):
        kind = kind or self.rng.choice(sorted(self.fwd))
        mailbox, target = self.rng.choice(self.fwd[kind])
        kind = "fwd-" + kind
        if kind == "fwd-copy-mss":
            e = self.accept([mailbox, target])
        elif kind == "fwd-redirect-mss":
            e = self.accept([target])
        else:                       # classic target: the mailbox keeps it, a notice
            e = self.accept([mailbox], notices=[target])
        return kind, [self.msg(kind, peer, [mailbox], e)]

    # -- a conversation with a patient, step by step
    def conversation(self):
        n = len(self.jobs) + 1
        dr = "dr.c%d@%s" % (n, LOCAL)
        p = "%s@%s" % (self.new_patient(), PATIENTS)
        ids = [
            self.msg("conv-open", dr, [p], self.accept([p]), body="Vos resultats.\n"),
            self.msg("conv-reply", p, [dr], self.accept([dr]), body="Merci docteur.\n"),
            self.msg("conv-fin-content", dr, [p], self.reject("5.7.1"), subject="[FIN]",
                     body="Cordialement, Dr C.\n"),
        ]
        if self.rng.random() < 0.3:
            # The professional writes again after the refused [FIN]; the
            # patient can still answer.
            ids.append(self.msg("conv-refresh", dr, [p], self.accept([p]), body="Rappel.\n"))
            ids.append(self.msg("conv-reply", p, [dr], self.accept([dr]), body="Bien recu.\n"))
        how = self.rng.choice(["subject", "variant", "header"])
        if how == "subject":
            ids.append(self.msg("conv-fin", dr, [p], self.accept([p]), subject="[FIN]", body=""))
        elif how == "variant":
            ids.append(self.msg("conv-fin", dr, [p], self.accept([p]), subject="Re: [ fin ]",
                                body=""))
        else:
            ids.append(self.msg("conv-fin", dr, [p], self.accept([p]), subject="Fin du suivi",
                                body="", headers=["X-MSS-MES: FIN"]))
        ids.append(self.msg("conv-closed-reply", p, [dr], self.reject("5.7.1"),
                            body="Encore une question.\n"))
        if self.rng.random() < 0.3:
            # A new message from the professional reopens it.
            ids.append(self.msg("conv-reopen", dr, [p], self.accept([p]), body="Nouveau bilan.\n"))
            ids.append(self.msg("conv-reply", p, [dr], self.accept([dr]), body="Oui.\n"))
        # The people take their time: the next step waits, so that at any
        # moment many conversations are half-way (and a fault on their
        # Redis keys meets them).
        for mid in ids[1:]:
            self.messages[mid]["wait"] = round(self.rng.uniform(0.5, 1.0) * self.think, 1)
        self.job("conversation", ids)

    # -- local submissions through sendmail(1)
    def sendmail(self):
        n = self.count + 1
        me = "sm.s%d@%s" % (n, LOCAL)
        peer = "confrere.sm%d@%s" % (n, self.rng.choice(PEERS))
        classic = "famille.sm%d@%s" % (n, self.rng.choice(CLASSIC))
        kind = self.rng.choice(["sm-out", "sm-out", "sm-patient", "sm-badkey", "sm-classic",
                                "sm-mixed"])
        if kind == "sm-out":
            e = self.accept([peer])
            rc = [peer]
        elif kind == "sm-patient":
            p = "%s@%s" % (self.new_patient(), PATIENTS)
            e, rc = self.accept([p]), [p]
        elif kind == "sm-badkey":
            bad = "%s@%s" % (bad_key(self.new_patient()), PATIENTS)
            e, rc = {"class": "bounce", "code": "5.1.1", "deliver": []}, [bad]
        elif kind == "sm-classic":
            # A forward re-injected by a mailbox server: held, never sent.
            e, rc = {"class": "hold", "deliver": []}, [classic]
        else:
            # The classic recipient is removed and gets a notice instead.
            e, rc = self.accept([peer], notices=[classic]), [peer, classic]
        self.job(kind, [self.msg(kind, me, rc, e, via="sendmail")])


    # -- messages held open in the middle of DATA across a SIGTERM of the
    # daemon (soak.sh's term-restart fault): they finish while it stops.
    def slow(self, n):
        for i in range(n):
            k = self.count + 1
            kind = ["out-mss", "fwd-copy-classic", "patient-open", "fwd-copy-mss"][i % 4]
            body = "".join("Ligne %d du compte rendu.\n" % j for j in range(200))
            if kind == "out-mss":
                rc = ["dr.slow%d@%s" % (k, PEERS[i % len(PEERS)])]
                mid = self.msg("slow-out", "dr.slow%d@%s" % (k, LOCAL), rc, self.accept(rc),
                               body=body)
            elif kind == "patient-open":
                rc = ["%s@%s" % (self.new_patient(), PATIENTS)]
                mid = self.msg("slow-patient", "dr.slow%d@%s" % (k, LOCAL), rc, self.accept(rc),
                               body=body)
            else:
                _, ids = self.forwarded("confrere.slow%d@medecin.mssante.fr" % k, kind[4:])
                mid = ids[0]
                self.messages[mid]["kind"] = "slow-" + self.messages[mid]["kind"]
                self.messages[mid]["body"] = body
            self.messages[mid]["slow"] = i


def cmd_plan(a):
    rng = random.Random(a.seed)
    p = Planner(rng, a.think)
    p.slow(a.slow)
    while p.count < a.messages:
        left = a.messages - p.count
        x = rng.random()
        if x < 0.09 and left >= 25:
            p.bulk(min(left, rng.choice([20, 25, 30, 40])))
        elif x < 0.20 and left >= 9:
            p.conversation()
        elif x < 0.30:
            p.sendmail()
        else:
            p.single()
    rng.shuffle(p.jobs)
    with open(os.path.join(a.dir, "plan.json"), "w") as f:
        json.dump({"jobs": p.jobs, "messages": p.messages}, f)
    with open(os.path.join(a.dir, "forwards.txt"), "w") as f:
        for mailbox, mode, target in p.forwards:
            f.write("%s %s %s\n" % (mailbox, mode, target))
    kinds = {}
    for m in p.messages.values():
        kinds[m["kind"]] = kinds.get(m["kind"], 0) + 1
    print("plan: %d messages in %d jobs: %s" % (
        len(p.messages), len(p.jobs), " ".join("%s=%d" % kv for kv in sorted(kinds.items()))))
    return 0


# ---------------------------------------------------------------- send

def split_list(text):
    """A comma-separated option: its entries."""
    return [x for x in str(text).split(",") if x != ""]


def enhanced(text):
    m = ENH.match(text or "")
    return m.group(1) if m else ""


def build_message(m):
    lines = [
        "From: <%s>" % (m["sender"] or "MAILER-DAEMON@" + LOCAL),
        "To: %s" % ", ".join("<%s>" % r for r in m["rcpts"]),
        "Subject: %s" % m["subject"],
        "Date: %s" % email.utils.formatdate(localtime=False),
        "Message-ID: <%s.soak@%s>" % (m["id"], HELO),
        "X-Soak-Id: %s" % m["id"],
    ] + m["headers"]
    body = m["body"]
    text = "\r\n".join(lines) + "\r\n\r\n" + body.replace("\n", "\r\n")
    return text.encode("utf-8")


class Sender:
    """Release the jobs over the run, send, retry 4xx, record everything."""

    def __init__(self, a, plan):
        self.a = a
        self.jobs = plan["jobs"]
        self.msgs = plan["messages"]
        self.lock = threading.Lock()
        self.cv = threading.Condition(self.lock)
        self.heap = []
        self.seq = 0
        self.pending = 0
        self.attempts = []
        self.results = {}
        self.tries = {}
        self.bulk_slots = threading.Semaphore(3)
        self.deferred_ids = set()      # got a 4xx (or no answer) at least once
        self.ambiguous_ids = set()     # the end of data went unanswered once
        self.ports = [int(p) for p in split_list(a.smtp)]
        self.etcs = split_list(a.postfix_etc)
        # A message's first node: its job's number plus its step.
        self.node_base = {}
        for ji, j in enumerate(self.jobs):
            for step, mid in enumerate(j["ids"]):
                self.node_base[mid] = ji + step
        self.t0 = time.time()
        self.deadline = self.t0 + a.deadline
        total = sum(len(j["ids"]) for j in self.jobs) or 1
        done = 0
        self.slow = sorted((m["slow"], mid) for mid, m in self.msgs.items() if "slow" in m)
        self.slow_ready = 0
        self.slow_half = set()
        with self.lock:
            self.pending += len(self.slow)
            for j in self.jobs:
                t = self.t0 + a.duration * done / total
                done += len(j["ids"])
                self.push(t, ("job", j, 0))
                self.pending += 1

    def port_of(self, mid):
        """The SMTP port for this attempt of MID: its first node, then the
        next node at each new attempt."""
        k = self.node_base.get(mid, 0) + max(self.tries.get(mid, 1) - 1, 0)
        return self.ports[k % len(self.ports)]

    def etc_of(self, mid):
        return self.etcs[self.node_base.get(mid, 0) % len(self.etcs)]

    def push(self, t, task):
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, task))
        self.cv.notify()

    def record(self, mid, code, text, stage, t=None):
        self.attempts.append({"t": t or time.time(), "id": mid, "code": code,
                              "enh": enhanced(text), "stage": stage})

    def finish(self, mid, res):
        res["tries"] = self.tries.get(mid, 0)
        self.results[mid] = res

    def backoff(self, mid):
        n = self.tries.get(mid, 1)
        return min(0.5 * 2 ** (n - 1), 3.0)

    # A task is ("job", job, step) or ("one", mid): one message to (re)send.
    def run(self):
        threads = [threading.Thread(target=self.worker, daemon=True) for _ in range(self.a.sessions)]
        threads.append(threading.Thread(target=self.slow_run, daemon=True))
        for t in threads:
            t.start()
        last = 0
        while True:
            with self.lock:
                if self.pending == 0:
                    break
                self.cv.wait(1)
                now = time.time()
                if now - last >= 10:
                    last = now
                    n4 = sum(1 for x in self.attempts if 400 <= x["code"] < 500)
                    sys.stderr.write("[soak] %4.0fs: %d/%d messages final, %d 4xx so far\n"
                                     % (now - self.t0, len(self.results), len(self.msgs), n4))
        for mid in self.msgs:
            if mid not in self.results:
                self.finish(mid, {"final": "unresolved", "why": "deadline"})
        return self.results, self.attempts

    # -- the slow messages: once W/slow.start exists, each opens its
    # session and sends half of its message; W/slow.ready says they all
    # did; once W/slow.finish exists, message i sends the rest 0.06 i s
    # later (a spread over the moment the daemon gives up and tears down).
    def flag_file(self, name):
        return os.path.join(self.a.dir, name)

    def wait_file(self, name, until):
        while not os.path.exists(self.flag_file(name)):
            if time.time() > until:
                return False
            time.sleep(0.05)
        return True

    def slow_run(self):
        if not self.slow:
            return
        self.wait_file("slow.start", self.t0 + self.a.duration)
        ts = [threading.Thread(target=self.slow_one, args=(i, mid), daemon=True)
              for i, mid in self.slow]
        for t in ts:
            t.start()

    def slow_one(self, i, mid):
        with self.lock:
            self.tries[mid] = self.tries.get(mid, 0) + 1
        res = self.smtp(self.msgs[mid], pause=0.06 * i)
        if mid not in self.slow_half:
            self.slow_half_sent(mid)        # it never got that far: do not wait for it
        with self.lock:
            if res["final"] == "deferred":
                self.deferred_ids.add(mid)
                self.push(time.time() + self.backoff(mid), ("one", mid))
                return
            res["had_4xx"] = mid in self.deferred_ids
            res["ambiguous"] = mid in self.ambiguous_ids
            self.finish(mid, res)
            self.pending -= 1
            self.cv.notify_all()

    def slow_half_sent(self, mid):
        with self.lock:
            self.slow_half.add(mid)
            self.slow_ready += 1
            if self.slow_ready == len(self.slow):
                open(self.flag_file("slow.ready"), "w").close()

    def worker(self):
        while True:
            with self.lock:
                while True:
                    if self.pending == 0:
                        return
                    now = time.time()
                    if self.heap and self.heap[0][0] <= now:
                        _, _, task = heapq.heappop(self.heap)
                        break
                    self.cv.wait(min(1.0, self.heap[0][0] - now) if self.heap else 1.0)
            try:
                self.do(task)
            except Exception as e:       # never lose track of a task
                sys.stderr.write("[soak] worker error on %r: %r\n" % (task[:1], e))
                with self.lock:
                    self.pending -= 1
                    self.cv.notify_all()

    def do(self, task):
        if task[0] == "job":
            _, job, step = task
            if job["bulk"] and step == 0:
                self.bulk(job)
                return
            mid = job["ids"][step]
            final = self.send_one(mid)
            with self.lock:
                if final:
                    if step + 1 < len(job["ids"]):
                        wait = self.msgs[job["ids"][step + 1]].get("wait", 0)
                        self.push(time.time() + wait, ("job", job, step + 1))
                        return
                    self.pending -= 1
                    self.cv.notify_all()
                elif time.time() > self.deadline:
                    self.abandon(job["ids"][step:])
                else:
                    self.push(time.time() + self.backoff(mid), task)
            return
        _, mid = task
        final = self.send_one(mid)
        with self.lock:
            if final:
                self.pending -= 1
                self.cv.notify_all()
            elif time.time() > self.deadline:
                self.abandon([mid])
            else:
                self.push(time.time() + self.backoff(mid), task)

    def abandon(self, ids):
        for mid in ids:
            if mid not in self.results:
                self.finish(mid, {"final": "unresolved", "why": "still deferred at the deadline"})
        self.pending -= 1
        self.cv.notify_all()

    # -- one message with smtplib or sendmail; True when its fate is final
    def send_one(self, mid):
        m = self.msgs[mid]
        with self.lock:
            self.tries[mid] = self.tries.get(mid, 0) + 1
        if m["via"] == "sendmail":
            return self.sendmail(m)
        res = self.smtp(m)
        with self.lock:
            if res["final"] == "deferred":
                self.deferred_ids.add(mid)
                return False
            res["had_4xx"] = mid in self.deferred_ids
            res["ambiguous"] = mid in self.ambiguous_ids
            self.finish(mid, res)
            return True

    def smtp(self, m, pause=None):
        """One attempt.  PAUSE (a slow message): send half of the message,
        wait for W/slow.finish and PAUSE more seconds, then the rest."""
        mid = m["id"]
        rcpt_replies = {}
        stage = "connect"
        try:
            s = smtplib.SMTP(timeout=60, local_hostname=HELO)
            code, text = s.connect("127.0.0.1", self.port_of(mid))
            if code != 220:
                return self.reply(mid, code, text, stage, rcpt_replies)
            stage = "ehlo"
            code, text = s.ehlo()
            if code != 250:
                return self.reply(mid, code, text, stage, rcpt_replies, s)
            stage = "mail"
            code, text = s.mail(m["sender"])
            if code != 250:
                return self.reply(mid, code, text, stage, rcpt_replies, s)
            stage = "rcpt"
            ok = 0
            for r in m["rcpts"]:
                code, text = s.rcpt(r)
                t = text.decode("utf-8", "replace")
                rcpt_replies[r] = [code, enhanced(t)]
                if 400 <= code < 500:
                    # Start again later with the whole message (an MTA
                    # would retry this recipient only; this keeps the
                    # expectation simple and is just as valid).
                    s.rset()
                    return self.reply(mid, code, text, stage, rcpt_replies, s)
                if code in (250, 251):
                    ok += 1
            if ok == 0:
                first = m["rcpts"][0]
                code = rcpt_replies[first][0]
                return self.reply(mid, code, "%s rcpt refused" % rcpt_replies[first][1], stage,
                                  rcpt_replies, s)
            stage = "data"
            code, text = s.docmd("DATA")
            if code != 354:
                return self.reply(mid, code, text, stage, rcpt_replies, s)
            stage = "eom"
            msg = build_message(m)
            msg = re.sub(rb"(?m)^\.", b"..", msg)
            if not msg.endswith(b"\r\n"):
                msg += b"\r\n"
            if pause is not None:
                half = msg.rfind(b"\r\n", 0, len(msg) // 2) + 2
                s.send(msg[:half])
                self.slow_half_sent(mid)
                self.wait_file("slow.finish", time.time() + 120)
                time.sleep(pause)
                msg = msg[half:]
            s.send(msg + b".\r\n")
            code, text = s.getreply()
            return self.reply(mid, code, text, stage, rcpt_replies, s)
        except (smtplib.SMTPException, OSError, socket.timeout) as e:
            with self.lock:
                if stage == "eom":
                    self.ambiguous_ids.add(mid)
                self.record(mid, 0, str(e), stage)
            return {"final": "deferred"}

    def reply(self, mid, code, text, stage, rcpt_replies, s=None):
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        if s is not None:
            try:
                s.quit()
            except (smtplib.SMTPException, OSError):
                pass
        with self.lock:
            self.record(mid, code, text, stage)
        if 400 <= code < 500 or code == 0:
            return {"final": "deferred"}
        res = {"code": code, "enh": enhanced(text), "stage": stage, "text": text[:200],
               "rcpt": rcpt_replies}
        res["final"] = "accepted" if code == 250 and stage == "eom" else "rejected"
        return res

    def sendmail(self, m):
        mid = m["id"]
        try:
            p = subprocess.run(["sendmail", "-C", self.etc_of(mid), "-f", m["sender"], "--"]
                               + m["rcpts"], input=build_message(m).replace(b"\r\n", b"\n"),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
            rc, out = p.returncode, p.stdout.decode("utf-8", "replace")
        except (OSError, subprocess.TimeoutExpired) as e:
            rc, out = -1, str(e)
        with self.lock:
            self.record(mid, 250 if rc == 0 else 0, out[:200], "sendmail")
            if rc != 0:
                return False
            self.finish(mid, {"final": "submitted", "had_4xx": False})
        return True

    # -- a bulk batch: smtp-source first, then each message without a
    # final verdict is sent again on its own.
    def bulk(self, job):
        b = job["bulk"]
        ids = job["ids"]
        with self.bulk_slots:
            t1 = time.time()
            try:
                p = subprocess.run(
                    ["smtp-source", "-v", "-A", "-N", "-m", str(b["size"]), "-s", "1",
                     "-f", b["sender"], "-t", b["base"], "-S", self.msgs[ids[0]]["subject"],
                     "-M", HELO, "-l", "300",
                     "127.0.0.1:%d" % self.ports[self.node_base[ids[0]] % len(self.ports)]],
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
                out = p.stdout.decode("utf-8", "replace")
            except (OSError, subprocess.TimeoutExpired) as e:
                out = ""
                sys.stderr.write("[soak] smtp-source: %s\n" % e)
            t2 = time.time()
        by_rcpt = {self.msgs[mid]["rcpts"][0].lower(): mid for mid in ids}
        outcomes = parse_smtp_source(out)
        retry = []
        with self.lock:
            for i, o in enumerate(outcomes):
                mid = by_rcpt.get((o["rcpt"] or "").lower())
                if mid is None:
                    continue
                t = t1 + (t2 - t1) * (i + 1) / max(len(outcomes), 1)
                self.tries[mid] = self.tries.get(mid, 0) + 1
                self.record(mid, o["code"], o["text"], o["stage"], t)
                if o["code"] == 0 and o["stage"] == "eom":
                    self.ambiguous_ids.add(mid)
                if o["code"] == 0 or 400 <= o["code"] < 500:
                    self.deferred_ids.add(mid)
                    continue
                self.finish(mid, {"final": "accepted" if o["code"] == 250 else "rejected",
                                  "code": o["code"], "enh": enhanced(o["text"]),
                                  "stage": o["stage"], "text": o["text"][:200],
                                  "rcpt": {self.msgs[mid]["rcpts"][0]: [o["rcpt_code"], ""]},
                                  "had_4xx": False, "ambiguous": False})
            for mid in ids:
                if mid not in self.results:
                    retry.append(mid)
            self.pending -= 1
            for mid in retry:
                self.pending += 1
                self.push(time.time() + (self.backoff(mid) if mid in self.tries else 0),
                          ("one", mid))
            self.cv.notify_all()


def parse_smtp_source(out):
    """Each transaction smtp-source -v ran: recipient, first failure or the
    end-of-data reply.  A transaction refused at MAIL has no recipient yet
    (its message is sent again by the caller)."""
    res = []
    cur = None

    def close():
        if cur is not None and cur["rcpt"] is not None:
            if cur["code"] is None:
                cur["code"], cur["text"] = 0, "no reply (connection lost)"
            res.append(cur)

    for line in out.splitlines():
        if not line.startswith("smtp-source: "):
            continue
        line = line[len("smtp-source: "):]
        if line.startswith("MAIL FROM:"):
            close()
            cur = {"rcpt": None, "stage": "mail", "code": None, "text": "", "rcpt_code": 0}
        elif cur is None:
            continue
        elif line.startswith("RCPT TO:<"):
            cur["rcpt"] = line[len("RCPT TO:<"):].rstrip(">")
            cur["stage"] = "rcpt"
        elif line == "DATA":
            cur["stage"] = "data"
        elif line == ".":
            cur["stage"] = "eom"
        elif line in ("RSET", "QUIT"):
            close()
            cur = None
        elif line.startswith("<<< ") and cur["code"] is None:
            m = re.match(r"<<< (\d{3})[ -](.*)", line)
            if not m:
                continue
            code, text = int(m.group(1)), m.group(2)
            if cur["stage"] == "rcpt":
                cur["rcpt_code"] = code
            if code >= 400 or (cur["stage"] == "eom"):
                cur["code"], cur["text"] = code, text
    close()
    return res


def cmd_send(a):
    with open(os.path.join(a.dir, "plan.json")) as f:
        plan = json.load(f)
    s = Sender(a, plan)
    results, attempts = s.run()
    with open(os.path.join(a.dir, "results.json"), "w") as f:
        json.dump(results, f)
    with open(os.path.join(a.dir, "attempts.jsonl"), "w") as f:
        for x in sorted(attempts, key=lambda x: x["t"]):
            f.write(json.dumps(x) + "\n")
    fin = {}
    for r in results.values():
        fin[r["final"]] = fin.get(r["final"], 0) + 1
    print("sent: %s in %.0fs" % (" ".join("%s=%d" % kv for kv in sorted(fin.items())),
                                 time.time() - s.t0))
    return 0


# ---------------------------------------------------------------- reconcile

def read_head(path):
    """Envelope and the headers we use from a captured message; the body's
    X-Soak-Id lines too (a bounce quotes the original's headers)."""
    env_from, env_to, hdr, quoted = None, [], {}, set()
    with open(path, "rb") as f:
        data = f.read().decode("utf-8", "replace")
    head, _, body = data.partition("\n\n")
    for line in head.split("\n"):
        if line.startswith("X-Capsink-From: "):
            env_from = line[16:].strip()[1:-1]
        elif line.startswith("X-Capsink-To: "):
            env_to.append(line[14:].strip()[1:-1].lower())
        elif ":" in line and not line[0].isspace():
            k, _, v = line.partition(":")
            hdr.setdefault(k.strip().lower(), v.strip())
    for m in re.finditer(r"(?m)^X-Soak-Id: (\S+)", body):
        quoted.add(m.group(1))
    codes = set(re.findall(r"(?m)^Status: (\d\.\d{1,3}\.\d{1,3})", body))
    return env_from, env_to, hdr, quoted, codes


def postfix_queue(etc):
    try:
        out = subprocess.run(["postqueue", "-c", etc, "-j"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, timeout=60).stdout.decode()
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def queued_soak_id(etc, qid):
    try:
        out = subprocess.run(["postcat", "-c", etc, "-h", "-q", qid], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, timeout=30).stdout.decode("utf-8", "replace")
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"(?m)^X-Soak-Id: (\S+)", out)
    return m.group(1) if m else None


def hold_reason(milter_logs, qid):
    """Why a daemon held QID, from its verdict line (for the report only)."""
    for milter_log in split_list(milter_logs):
        try:
            with open(milter_log, errors="replace") as f:
                for line in f:
                    if ("%s: " % qid) in line and "verdict=hold" in line:
                        rule = re.search(r"rule=(\S+)", line)
                        why = re.search(r'reason="([^"]*)"', line)
                        return "%s: %s" % (rule.group(1) if rule else "?",
                                           why.group(1) if why else "?")
        except OSError:
            pass
    return "no verdict=hold line in the daemon's log"


def read_faults(path):
    faults = []
    try:
        with open(path) as f:
            for line in f:
                p = line.rstrip("\n").split("\t")
                if len(p) >= 4:
                    faults.append({"name": p[0], "start": float(p[1]), "repaired": float(p[2]),
                                   "what": p[3], "note": p[4] if len(p) > 4 else ""})
    except OSError:
        pass
    return faults


class Reconciler:
    def __init__(self, a):
        self.a = a
        with open(os.path.join(a.dir, "plan.json")) as f:
            self.msgs = json.load(f)["messages"]
        with open(os.path.join(a.dir, "results.json")) as f:
            self.results = json.load(f)
        self.attempts = []
        with open(os.path.join(a.dir, "attempts.jsonl")) as f:
            for line in f:
                self.attempts.append(json.loads(line))
        self.count = {"lost": 0, "wrong_accept": 0, "wrong_refuse": 0, "duplicated": 0}
        self.details = []
        self.deliveries = {}           # id -> {rcpt: n}
        self.bounces = {}              # id -> [codes]
        self.notices = {}              # rcpt -> n
        self.unknown = []

    def flag(self, what, mid, why):
        self.count[what] += 1
        m = self.msgs.get(mid, {})
        self.details.append("%s id=%s kind=%s sender=<%s> rcpts=%s: %s" % (
            what, mid, m.get("kind", "?"), m.get("sender", "?"), ",".join(m.get("rcpts", [])), why))

    def scan_sink(self):
        by_env = {}
        for mid, m in self.msgs.items():
            if m["via"] == "bulk":
                by_env[(m["sender"].lower(), m["rcpts"][0].lower())] = mid
        for name in os.listdir(self.a.sink):
            if not name.startswith("msg-"):
                continue
            env_from, env_to, hdr, quoted, codes = read_head(os.path.join(self.a.sink, name))
            if env_from == "" and quoted:          # a bounce to the sender
                for mid in quoted:
                    self.bounces.setdefault(mid, []).append(sorted(codes))
                continue
            if env_from is not None and env_from.lower() == NOTICE_SENDER:
                for r in env_to:
                    self.notices[r] = self.notices.get(r, 0) + 1
                leak = set(quoted) | set(re.findall(r"\bm\d{6}\b", hdr.get("subject", "")))
                for mid in sorted(leak & set(self.msgs)):
                    self.flag("wrong_accept", mid, "the notice %s to %s carries this message's "
                              "content" % (name, ",".join(env_to)))
                continue
            mid = hdr.get("x-soak-id")
            for r in env_to:
                key = mid or by_env.get(((env_from or "").lower(), r))
                if key is None or key not in self.msgs:
                    self.unknown.append("%s (from <%s> to <%s>)" % (name, env_from, r))
                    continue
                d = self.deliveries.setdefault(key, {})
                d[r] = d.get(r, 0) + 1

    def scan_queue(self):
        self.held = {}
        self.stuck = {}
        for etc, q in [(e, q) for e in split_list(self.a.postfix_etc) for q in postfix_queue(e)]:
            mid = queued_soak_id(etc, q["queue_id"])
            if mid is None:
                sender = q.get("sender", "").lower()
                for k, m in self.msgs.items():
                    if m["via"] == "sendmail" and m["sender"].lower() == sender:
                        mid = k
            entry = {"qid": q["queue_id"], "queue": q["queue_name"], "id": mid}
            if q["queue_name"] == "hold":
                entry["why"] = hold_reason(self.a.milter_log, q["queue_id"])
                self.held.setdefault(mid, []).append(entry)
            else:
                self.stuck.setdefault(mid, []).append(entry)

    def judge(self):
        self.held_expected = 0
        self.held_other = []
        self.deferred_then_ok = 0
        expected_notices = {}
        for mid, m in sorted(self.msgs.items()):
            e = m["expect"]
            r = self.results.get(mid) or {"final": "unresolved"}
            got = self.deliveries.get(mid, {})
            held = self.held.get(mid)
            stuck = self.stuck.get(mid)
            want = set(x.lower() for x in e["deliver"])
            for rc, n in got.items():
                if rc not in want:
                    self.flag("wrong_accept", mid, "delivered to <%s>, which must not get it" % rc)
            cls = e["class"]
            if held and cls != "hold":
                self.held_other.append((mid, held))
            if r.get("had_4xx") and r["final"] in ("accepted", "submitted") and got:
                self.deferred_then_ok += 1
            if cls == "accept":
                ok = self.judge_accept(mid, m, r, got, want, held, stuck)
                if ok:
                    for t in e.get("notices", []):
                        expected_notices[t.lower()] = expected_notices.get(t.lower(), 0) + 1
            elif cls == "reject":
                self.judge_reject(mid, e, r, stuck)
            elif cls == "bounce":
                self.judge_bounce(mid, e, r, held, stuck)
            elif cls == "hold":
                if held:
                    self.held_expected += 1
                elif mid in self.bounces:
                    self.flag("wrong_refuse", mid, "bounced instead of held")
                elif not got:
                    self.flag("lost", mid, "neither held nor anywhere else%s" % self.where(stuck))
            for rc, n in got.items():
                if n > 1:
                    self.flag("duplicated", mid, "<%s> got it %d times%s" % (
                        rc, n, " (the client resent after a lost reply)" if r.get("ambiguous") else ""))
        self.expected_notices = expected_notices

    @staticmethod
    def where(stuck):
        if not stuck:
            return ""
        return "; still in the Postfix queue: %s" % ", ".join(
            "%s (%s)" % (s["qid"], s["queue"]) for s in stuck)

    def judge_accept(self, mid, m, r, got, want, held, stuck):
        e = m["expect"]
        if r["final"] == "rejected":
            self.flag("wrong_refuse", mid, "refused: %s %s at %s" % (r.get("code"), r.get("text"), r.get("stage")))
            return False
        if r["final"] == "unresolved":
            self.flag("lost", mid, "never accepted: %s" % r.get("why", "4xx until the end"))
            return False
        if m["via"] == "sendmail" and mid in self.bounces:
            self.flag("wrong_refuse", mid, "bounced: %s" % self.bounces[mid])
            return False
        for rc, code in e.get("rcpt_refuse", {}).items():
            rr = (r.get("rcpt") or {}).get(rc)
            if rr is not None and rr[0] == 250:
                self.flag("wrong_accept", mid, "RCPT <%s> accepted, must be refused %s" % (rc, code))
            elif rr is not None and rr[1] != code:
                self.flag("wrong_refuse", mid, "RCPT <%s> refused %s, expected %s" % (rc, rr, code))
        for rc in sorted(want):
            rr = (r.get("rcpt") or {}).get(rc)
            if rr is not None and rr[0] >= 500:
                self.flag("wrong_refuse", mid, "RCPT <%s> refused: %s" % (rc, rr))
                return False
        missing = [rc for rc in sorted(want) if got.get(rc, 0) == 0]
        if missing and held:
            return False            # reported with the held messages
        if missing:
            self.flag("lost", mid, "accepted, never delivered to %s%s" % (
                ", ".join("<%s>" % x for x in missing), self.where(stuck)))
            return False
        return True

    def judge_reject(self, mid, e, r, stuck):
        if r["final"] == "accepted":
            self.flag("wrong_accept", mid, "accepted (%s), must be refused %s" % (r.get("text"), e["code"]))
        elif r["final"] == "unresolved":
            self.flag("lost", mid, "no final verdict: %s" % r.get("why", ""))
        elif r.get("enh") != e["code"]:
            self.flag("wrong_refuse", mid, "refused %s %s (%s), expected %s" % (
                r.get("code"), r.get("enh"), r.get("text"), e["code"]))

    def judge_bounce(self, mid, e, r, held, stuck):
        b = self.bounces.get(mid)
        if r["final"] != "submitted":
            self.flag("lost", mid, "sendmail never took it")
        elif b is None:
            if not held:
                self.flag("lost", mid, "no bounce came back to the sender%s" % self.where(stuck))
        else:
            if not any(e["code"] in codes for codes in b):
                self.flag("wrong_refuse", mid, "bounced with %s, expected %s" % (b, e["code"]))
            if len(b) > 1:
                self.flag("duplicated", mid, "%d bounces" % len(b))

    # -- the report
    def fault_lines(self):
        """One line per fault.  Its window runs from the injection to the
        next fault's.  4xx: the replies in the window that told the client
        to retry (a lost connection counts too).  recovery: from the repair
        (the daemon listening again, Redis back, the key restored...) to
        the first message accepted after the window's last 4xx; 0 when the
        last 4xx came before the repair was complete."""
        faults = read_faults(os.path.join(self.a.dir, "faults.tsv"))
        att = sorted(self.attempts, key=lambda x: x["t"])
        ok_times = [x["t"] for x in att if x["code"] == 250 and x["stage"] in ("eom", "sendmail")]
        lines = []
        for i, f in enumerate(faults):
            end = faults[i + 1]["start"] if i + 1 < len(faults) else float("inf")
            win = [x for x in att if f["start"] <= x["t"] < end]
            tf = [x for x in win if 400 <= x["code"] < 500 or x["code"] == 0]
            if tf:
                last = tf[-1]["t"]
                after = [t for t in ok_times if t > last]
                rec = max(0.0, (after[0] if after else last) - f["repaired"])
                span = " (+%.1fs..+%.1fs)" % (tf[0]["t"] - f["start"], last - f["start"])
            else:
                rec, span = 0.0, ""
            lines.append("fault %-20s %s: 4xx=%d%s of %d replies, repaired after %.1fs, "
                         "recovery=%.1fs%s" % (
                             f["name"], f["what"], len(tf), span, len(win),
                             f["repaired"] - f["start"], rec,
                             (" " + f["note"]) if f["note"] else ""))
        return lines

    def notices_queued(self):
        """Notices still in the Redis queue when the run ended (soak.sh
        writes W/notify.pending): a notice claimed by a daemon that was
        killed waits for its claim's lease to end, it is late, not lost."""
        try:
            with open(os.path.join(self.a.dir, "notify.pending")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def report(self):
        self.scan_sink()
        self.scan_queue()
        self.judge()
        out = self.fault_lines()
        n = len(self.msgs)
        acc = sum(1 for r in self.results.values() if r and r["final"] in ("accepted", "submitted"))
        rej = sum(1 for r in self.results.values() if r and r["final"] == "rejected")
        n4 = sum(1 for x in self.attempts if 400 <= x["code"] < 500)
        out.append("messages=%d accepted=%d refused=%d deferred_then_delivered=%d replies_4xx=%d "
                   "via_smtp_source=%d via_sendmail=%d" % (
                       n, acc, rej, self.deferred_then_ok, n4,
                       sum(1 for m in self.msgs.values() if m["via"] == "bulk"),
                       sum(1 for m in self.msgs.values() if m["via"] == "sendmail")))
        exp_n = sum(self.expected_notices.values())
        got_n = sum(self.notices.get(t, 0) for t in self.expected_notices)
        missing = sum(max(0, v - self.notices.get(t, 0)) for t, v in self.expected_notices.items())
        extra = sum(max(0, self.notices.get(t, 0) - v) for t, v in self.expected_notices.items())
        stray = sum(v for t, v in self.notices.items() if t not in self.expected_notices)
        queued = self.notices_queued()
        out.append("notices expected=%d received=%d missing=%d extra=%d unexpected_targets=%d "
                   "still_queued_in_redis=%s" % (exp_n, got_n, max(0, missing - (queued or 0)),
                                                 extra, stray, "?" if queued is None else queued))
        for t, v in sorted(self.expected_notices.items()):
            if self.notices.get(t, 0) < v:
                out.append("  notice missing: <%s> expected %d, got %d" % (t, v, self.notices.get(t, 0)))
        held_n = sum(len(v) for v in self.held.values())
        out.append("held=%d (expected for forwards re-injected toward classic addresses: %d)"
                   % (held_n, self.held_expected))
        reasons = {}
        for mid, entries in self.held.items():
            exp = self.msgs.get(mid, {}).get("expect", {}).get("class") == "hold"
            for h in entries:
                reasons.setdefault((exp, h["why"]), []).append(mid or h["qid"])
        for (exp, why), ids in sorted(reasons.items()):
            out.append("  held %d %s: %s%s" % (len(ids), "as expected" if exp else "UNEXPECTED",
                                               why, "" if exp else " (%s)" % " ".join(map(str, ids[:20]))))
        stuck_n = sum(len(v) for v in self.stuck.values())
        if stuck_n:
            out.append("still queued=%d: %s" % (stuck_n, " ".join(
                "%s/%s" % (s["qid"], s["queue"]) for v in self.stuck.values() for s in v)[:500]))
        for u in self.unknown[:10]:
            out.append("  unmatched sink file: %s" % u)
        for d in self.details[:60]:
            out.append("  " + d)
        if len(self.details) > 60:
            out.append("  ... %d more" % (len(self.details) - 60))
        c = self.count
        out.append("lost=%d wrong_accept=%d wrong_refuse=%d duplicated=%d" % (
            c["lost"], c["wrong_accept"], c["wrong_refuse"], c["duplicated"]))
        with open(os.path.join(self.a.dir, "details.txt"), "w") as f:
            f.write("\n".join(self.details) + "\n")
        print("\n".join(out))
        return 0 if not any(c.values()) else 1


def cmd_reconcile(a):
    return Reconciler(a).report()


def cmd_selfcheck(a):
    """The reconciliation must be able to fail: plant a duplicate, a loss and
    a wrong delivery in a copy of the sink and check that each is counted."""
    import shutil
    base = Reconciler(a)
    base.scan_sink()
    base.scan_queue()
    base.judge()
    files = {}
    for name in sorted(os.listdir(a.sink)):
        if name.startswith("msg-"):
            env_from, env_to, hdr, _, _ = read_head(os.path.join(a.sink, name))
            mid = hdr.get("x-soak-id")
            if mid in base.msgs and len(env_to) == 1:
                files.setdefault(mid, []).append(name)
    ok = [mid for mid, names in files.items() if len(names) == 1
          and base.msgs[mid]["expect"]["class"] == "accept"
          and len(base.msgs[mid]["expect"]["deliver"]) == 1]
    refused = [mid for mid, m in base.msgs.items() if m["expect"]["class"] == "reject"
               and m["via"] == "smtp"]
    if len(ok) < 2 or not refused:
        print("reconciler self-check: not enough traffic to plant faults")
        return 1
    dup, gone, bad = ok[0], ok[1], refused[0]
    copy = os.path.join(a.dir, "sink-selfcheck")
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(a.sink, copy)
    shutil.copy(os.path.join(copy, files[dup][0]), os.path.join(copy, "msg-900000001.eml"))
    os.unlink(os.path.join(copy, files[gone][0]))
    m = base.msgs[bad]
    with open(os.path.join(copy, "msg-900000002.eml"), "w") as f:
        f.write("X-Capsink-From: <%s>\nX-Capsink-To: <%s>\nX-Soak-Id: %s\n\nplanted\n"
                % (m["sender"], m["rcpts"][0], bad))
    a.sink = copy
    r = Reconciler(a)
    r.scan_sink()
    r.scan_queue()
    r.judge()
    shutil.rmtree(copy, ignore_errors=True)
    want = {"duplicated": base.count["duplicated"] + 1, "lost": base.count["lost"] + 1,
            "wrong_accept": base.count["wrong_accept"] + 1}
    got = {k: r.count[k] for k in want}
    if got == want:
        print("reconciler self-check: ok (a duplicate of %s, the loss of %s and a delivery of "
              "the refused %s, planted in a copy of the sink, are each counted)" % (dup, gone, bad))
        return 0
    print("reconciler self-check: FAILED: planted one of each, counts went %s -> %s"
          % ({k: base.count[k] for k in want}, got))
    return 1


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
