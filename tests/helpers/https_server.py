#!/usr/bin/python3
"""https_server.py - a small HTTPS file server for the whitelist fetch tests.

Run it with /usr/bin/python3 (Debian's); standard library only.  It serves
the files of --dir over TLS on 127.0.0.1, with the behaviours a real web
server has and the failures the fetcher must survive:

  --require-client-cert CA   mutual TLS: a client certificate signed by CA
                             is required (ssl.CERT_REQUIRED)
  --tls12-only               cap the server at TLS 1.2 (the handshake, not
                             the first read, then fails on a missing cert)
  --gzip                     gzip the body when the client accepts it
  --no-validators            send neither ETag nor Last-Modified
  --delay SECONDS            wait that long before answering each request
                             (a slow server: concurrent fetchers overlap)
  --mode MODE                normal | truncate | truncate-abrupt | error500 |
                             hang | redirect-http | garbage | trickle
  --mode-file F              read the mode from file F at each request (its
                             first word; --mode when F is missing or empty):
                             one server whose behaviour a test changes while
                             a client keeps its URL
      truncate       Content-Length of the whole body, half of it sent,
                     then the TLS session is closed cleanly (close_notify)
      truncate-abrupt  the same, but the TCP connection is dropped without
                     close_notify, as when a server process dies
      error500       an HTML "500 Internal Server Error" page
      hang           read the request, never answer (timeout tests)
      redirect-http  302 to the same path over plain http://
      garbage        200, Content-Type application/xml, random bytes the
                     size of the file (nothing a parser can use)
      trickle        200 with the whole file announced, then one byte a
                     second until the client gives up
  --port-file F    the chosen port is written to F once the server listens
  --log F          one line per request (headers of interest, status)

ETag is a hash of the file's bytes, Last-Modified its mtime.  If-None-Match
wins over If-Modified-Since, as RFC 9110 says; a match answers 304 (in
normal mode only: garbage, trickle and truncate misbehave whatever the
client already has).
"""

import argparse
import email.utils
import gzip
import hashlib
import os
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


MODES = ["normal", "truncate", "truncate-abrupt", "error500", "hang", "redirect-http",
         "garbage", "trickle"]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mssante-test-httpd/1"

    def log_message(self, fmt, *args):  # quiet on stderr, see --log
        pass

    def record(self, status, note=""):
        cert = self.connection.getpeercert() if hasattr(self.connection, "getpeercert") else None
        cn = ""
        for rdn in (cert or {}).get("subject", ()):
            for key, value in rdn:
                if key == "commonName":
                    cn = value
        line = "%s %s status=%s inm=%s ims=%s ae=%s client=%s %s\n" % (
            self.command, self.path, status,
            self.headers.get("If-None-Match", "-"),
            (self.headers.get("If-Modified-Since") or "-").replace(" ", "_"),
            (self.headers.get("Accept-Encoding") or "-").replace(" ", ""),
            cn or "-", note)
        self.server.write_log(line)

    def send_body(self, status, ctype, body, extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        opts = self.server.opts
        mode = self.server.mode()
        if opts.delay > 0:
            time.sleep(opts.delay)
        if mode == "hang":
            self.record("hang")
            self.close_connection = True
            time.sleep(3600)
            return
        if mode == "error500":
            self.record(500)
            page = (b"<!DOCTYPE html><html><head><title>500 Internal Server Error</title>"
                    b"</head><body><h1>Internal Server Error</h1><p>Maintenance.</p>"
                    b"</body></html>\n")
            self.send_body(500, "text/html; charset=utf-8", page)
            return
        if mode == "redirect-http":
            self.record(302)
            host, port = self.server.server_address[:2]
            self.send_body(302, "text/plain", b"moved\n",
                           [("Location", "http://%s:%d%s" % (host, port, self.path))])
            return

        name = os.path.basename(self.path.split("?", 1)[0])
        path = os.path.join(opts.dir, name)
        if not name or not os.path.isfile(path):
            self.record(404)
            self.send_body(404, "text/plain", b"not found\n")
            return
        with open(path, "rb") as f:
            data = f.read()
        mtime = int(os.stat(path).st_mtime)
        if mode == "garbage":
            self.record(200, "garbage=%d" % len(data))
            self.send_body(200, "application/xml", os.urandom(max(len(data), 1)))
            return
        if mode == "trickle":
            self.trickle(data)
            return
        validators = []
        if not opts.no_validators:
            etag = '"%s"' % hashlib.sha256(data).hexdigest()[:32]
            validators = [("ETag", etag),
                          ("Last-Modified", email.utils.formatdate(mtime, usegmt=True))]
            # A server failing in the middle of a transfer does not
            # answer 304 first.
            if mode == "normal" and self.not_modified(etag, mtime):
                self.record(304)
                self.send_response(304)
                for k, v in validators:
                    self.send_header(k, v)
                self.end_headers()
                return

        extra = list(validators)
        if opts.gzip and "gzip" in (self.headers.get("Accept-Encoding") or ""):
            data = gzip.compress(data)
            extra += [("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")]
        if mode in ("truncate", "truncate-abrupt"):
            self.truncated(data, extra, mode == "truncate-abrupt")
            return
        self.record(200, "bytes=%d" % len(data))
        self.send_body(200, "application/xml", data, extra)

    def not_modified(self, etag, mtime):
        inm = self.headers.get("If-None-Match")
        if inm is not None:
            tags = [t.strip() for t in inm.split(",")]
            return "*" in tags or etag in tags or ("W/" + etag) in tags
        ims = self.headers.get("If-Modified-Since")
        if ims is not None:
            try:
                since = email.utils.parsedate_to_datetime(ims).timestamp()
            except (TypeError, ValueError):
                return False
            return mtime <= since
        return False

    def trickle(self, data):
        """Announce the whole body, then send it one byte a second."""
        self.record(200, "trickle=%d" % len(data))
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        for i in range(len(data)):
            try:
                self.wfile.write(data[i:i + 1])
                self.wfile.flush()
            except (ssl.SSLError, OSError):
                self.server.write_log("trickle: client left after %d byte(s)\n" % i)
                return
            time.sleep(1)

    def truncated(self, data, extra, abrupt):
        """Announce the whole body, send half, close."""
        self.record(200, "truncated=%d/%d" % (len(data) // 2, len(data)))
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        self.close_connection = True
        try:
            if abrupt:
                self.connection.shutdown(socket.SHUT_RDWR)
            else:
                self.connection.unwrap()
        except (ssl.SSLError, OSError):
            pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, opts, ctx):
        self.opts = opts
        self.ctx = ctx
        self.log_lock = threading.Lock()
        super().__init__(("127.0.0.1", opts.port), Handler)

    def mode(self):
        """The behaviour for this request: --mode-file's word, else --mode."""
        if self.opts.mode_file:
            try:
                with open(self.opts.mode_file) as f:
                    word = f.read().split()
            except OSError:
                word = []
            if word and word[0] in MODES:
                return word[0]
        return self.opts.mode

    def write_log(self, line):
        if not self.opts.log:
            return
        with self.log_lock, open(self.opts.log, "a") as f:
            f.write(line)

    # The TLS handshake runs in the request's thread, not in accept():
    # a client that stalls or fails its handshake must not block others.
    def finish_request(self, request, client_address):
        request.settimeout(30)
        try:
            tls = self.ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            self.write_log("TLS handshake failed: %s\n" % e)
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        except (ssl.SSLError, OSError) as e:
            self.write_log("connection error: %s\n" % e)
        finally:
            tls.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--require-client-cert", metavar="CAFILE")
    ap.add_argument("--tls12-only", action="store_true")
    ap.add_argument("--gzip", action="store_true")
    ap.add_argument("--no-validators", action="store_true")
    ap.add_argument("--delay", type=float, default=0.0)
    ap.add_argument("--mode", default="normal", choices=MODES)
    ap.add_argument("--mode-file")
    ap.add_argument("--log")
    opts = ap.parse_args()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(opts.cert, opts.key)
    if opts.tls12_only:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if opts.require_client_cert:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(opts.require_client_cert)

    server = Server(opts, ctx)
    port = server.server_address[1]
    if opts.port_file:
        tmp = opts.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, opts.port_file)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
