"""soak_plan.py - "soak.py plan": the messages to send and what the rules say
must become of each (MSSANTE.md section 5, the README), written to W/plan.json."""

import json
import os
import random

from soak_common import LOCAL, LOCAL2, PEERS, CLASSIC, PATIENTS, PHARMACY, FWD_MAILBOXES


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
