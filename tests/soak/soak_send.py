"""soak_send.py - "soak.py send": the planned messages released over the
duration from parallel sessions (smtp-source, smtplib, sendmail), 4xx
retried until the deadline."""

import email.utils
import heapq
import json
import os
import re
import smtplib
import socket
import subprocess
import sys
import threading
import time

from soak_common import LOCAL, HELO, ENH, split_list


# ---------------------------------------------------------------- send

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
