"""soak_reconcile.py - "soak.py reconcile" and "selfcheck": what really
became of each message (the sink, the Postfix queue, the faults) against
what the plan expected."""

import json
import os
import re
import subprocess

from soak_common import NOTICE_SENDER, split_list


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
