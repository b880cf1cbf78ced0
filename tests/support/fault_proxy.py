#!/usr/bin/env python3
"""A fault-injecting reverse proxy in front of a real Consul and a real Nomad agent.

The integration tests inject API faults through the sandbox's PUT /_sandbox/faults
(sandbox/common/faults.h). Against real agents this proxy serves the same API with the
same semantics, one listening port per agent (so a rule's "agent" field works), and
passes every other request through: blocking queries wait as long as the agent holds
them, bodies are streamed, and the agents' headers (X-Consul-Index, X-Nomad-Index, ...)
are kept.

Rules, a JSON array, each {agent, method, path, rate, status, latency_ms, reset,
index_reset}, as the sandbox has them:
  - a rule matches when its agent ("consul", "nomad" or "" for both) and method ("" for
    any) match and its path regex is found in the request target (path?query);
  - the first matching rule whose rate roll fires is applied (rate >= 1 always fires);
  - latency_ms is waited first; then reset answers 502 with an empty body (the sandbox's
    stand-in for a dropped connection), status answers that status with a plain-text
    body, index_reset passes the request on without its index/wait parameters and sets
    the index header of the answer to 1; otherwise the request is passed on.
A request held by latency_ms is still passed on when its client has gone, as the
sandbox does (the agent may apply a write whose caller was killed).

Usage: fault_proxy.py --consul-upstream URL --nomad-upstream URL
                      [--consul-port P] [--nomad-port P] [--faults FILE]
Once listening it prints, like rollout-sandbox, one line per agent on stdout:
  consul http://127.0.0.1:PORT
  nomad http://127.0.0.1:PORT
"""
import argparse
import http.client
import json
import random
import re
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ADMIN_PATH = "/_sandbox/faults"
# Headers that belong to one hop, never passed on (RFC 9110 7.6.1), plus the ones this
# proxy sets itself.
HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-connection", "proxy-authenticate",
    "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade", "expect",
    "host", "content-length",
}
# Longer than the agents' longest blocking query (Consul and Nomad cap wait at 10 min).
UPSTREAM_TIMEOUT_S = 660


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def rules_from_json(document):
    """Validates a rules document as FaultRulesFromJson does; raises ValueError."""
    if not isinstance(document, list):
        raise ValueError("faults must be a JSON array of rules")
    rules = []
    for item in document:
        if not isinstance(item, dict):
            raise ValueError("each fault rule must be an object")
        rule = {"agent": "", "path": "", "method": "", "rate": 1.0, "status": 0,
                "latency_ms": 0, "reset": False, "index_reset": False}
        for key, default in list(rule.items()):
            if key not in item:
                continue
            value = item[key]
            if isinstance(default, bool):
                ok = isinstance(value, bool)
            elif isinstance(default, str):
                ok = isinstance(value, str)
            else:
                ok = _is_number(value)
            if not ok:
                raise ValueError(f"bad fault rule field: {key} has the wrong type")
            rule[key] = value
        rule["status"] = int(rule["status"])
        rule["latency_ms"] = int(rule["latency_ms"])
        rule["rate"] = float(rule["rate"])
        if rule["agent"] not in ("", "consul", "nomad"):
            raise ValueError('agent must be "consul", "nomad" or empty')
        if rule["rate"] < 0 or rule["rate"] > 1:
            raise ValueError("rate must be in [0, 1]")
        if rule["status"] != 0 and not 100 <= rule["status"] <= 599:
            raise ValueError("status must be an HTTP status code")
        if not 0 <= rule["latency_ms"] <= 600000:
            raise ValueError("latency_ms must be in [0, 600000]")
        try:
            re.compile(rule["path"])
        except re.error as e:
            raise ValueError(f'bad path regex "{rule["path"]}": {e}') from e
        rules.append(rule)
    return rules


class Faults:
    def __init__(self):
        self._lock = threading.Lock()
        self._rules = []  # (rule, compiled pattern)
        self._random = random.Random()

    def set(self, rules):
        compiled = [(rule, re.compile(rule["path"])) for rule in rules]
        with self._lock:
            self._rules = compiled

    def rules(self):
        with self._lock:
            return [dict(rule) for rule, _ in self._rules]

    def pick(self, agent, method, target):
        with self._lock:
            for rule, pattern in self._rules:
                if rule["agent"] and rule["agent"] != agent:
                    continue
                if rule["method"] and rule["method"] != method:
                    continue
                if not pattern.search(target):
                    continue
                if rule["rate"] >= 1.0 or self._random.random() < rule["rate"]:
                    return dict(rule)
        return None


def without_blocking_params(query):
    parts = [p for p in query.split("&") if p and p.split("=", 1)[0] not in ("index", "wait")]
    return "&".join(parts)


class ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address, agent, upstream, faults):
        super().__init__(address, Handler)
        self.agent = agent
        self.upstream = upstream  # (host, port)
        self.faults = faults


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "rollouts-fault-proxy"

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(body)
                body += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _answer(self, status, body=b"", content_type=None):
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _admin(self, body):
        faults = self.server.faults

        def listing():
            self._answer(200, json.dumps(faults.rules()).encode(), "application/json")

        if self.command == "GET":
            return listing()
        if self.command == "DELETE":
            faults.set([])
            return listing()
        if self.command in ("PUT", "POST"):
            try:
                faults.set(rules_from_json(json.loads(body or b"null")))
            except (ValueError, json.JSONDecodeError) as e:
                return self._answer(400, str(e).encode(), "text/plain; charset=utf-8")
            return listing()
        return self._answer(405, f"method {self.command} not allowed".encode(),
                            "text/plain; charset=utf-8")

    def _handle(self):
        body = self._read_body()
        target = self.path
        path, _, query = target.partition("?")
        if path == ADMIN_PATH:
            return self._admin(body)
        rule = self.server.faults.pick(self.server.agent, self.command, target)
        index_reset = False
        if rule:
            effect = ("reset" if rule["reset"] else rule["status"] or
                      ("index_reset" if rule["index_reset"] else "pass"))
            sys.stderr.write(f"{time.strftime('%H:%M:%S')} {self.server.agent} {self.command} "
                             f"{target}: +{rule['latency_ms']} ms, {effect}\n")
            if rule["latency_ms"] > 0:
                time.sleep(rule["latency_ms"] / 1000.0)
            if rule["reset"]:
                return self._answer(502)
            if rule["status"]:
                return self._answer(rule["status"],
                                    f"sandbox injected fault: {rule['status']}".encode(),
                                    "text/plain; charset=utf-8")
            if rule["index_reset"]:
                index_reset = True
                query = without_blocking_params(query)
                target = path + ("?" + query if query else "")
        self._forward(target, body, index_reset)

    def _forward(self, target, body, index_reset):
        host, port = self.server.upstream
        upstream = http.client.HTTPConnection(host, port, timeout=UPSTREAM_TIMEOUT_S)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            headers["Host"] = f"{host}:{port}"
            if body or self.command in ("PUT", "POST", "PATCH"):
                headers["Content-Length"] = str(len(body))
            try:
                upstream.request(self.command, target, body=body or None, headers=headers)
                response = upstream.getresponse()
            except OSError as e:
                # What a client sees through a proxy whose upstream is gone.
                return self._answer(502, f"fault proxy: upstream {host}:{port}: {e}".encode(),
                                    "text/plain; charset=utf-8")
            # The agent's own Date and Server headers are passed on, not the proxy's.
            self.send_response_only(response.status, response.reason)
            for name, value in response.getheaders():
                if name.lower() in HOP_BY_HOP:
                    continue
                if index_reset and name.lower() in ("x-consul-index", "x-nomad-index"):
                    value = "1"
                self.send_header(name, value)
            no_body = (self.command == "HEAD" or response.status in (204, 304)
                       or 100 <= response.status < 200)
            length = response.getheader("Content-Length")
            if no_body:
                self.send_header("Content-Length", length or "0")
                self.end_headers()
                return
            if length is not None:
                self.send_header("Content-Length", length)
                self.end_headers()
                while True:
                    chunk = response.read(65536)
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                return
            # Chunked or close-delimited upstream (a stream): passed on chunk by chunk as
            # it arrives.
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            while True:
                chunk = response.read1(65536)
                if not chunk:
                    break
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            upstream.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _handle


def upstream_of(url):
    parsed = urllib.parse.urlsplit(url if "://" in url else "http://" + url)
    if parsed.scheme != "http" or not parsed.hostname or not parsed.port:
        raise SystemExit(f"fault_proxy: upstream must be http://HOST:PORT, got {url}")
    return parsed.hostname, parsed.port


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--consul-upstream", required=True)
    parser.add_argument("--nomad-upstream", required=True)
    parser.add_argument("--consul-port", type=int, default=0)
    parser.add_argument("--nomad-port", type=int, default=0)
    parser.add_argument("--faults", help="JSON file of fault rules")
    args = parser.parse_args()

    faults = Faults()
    if args.faults:
        try:
            with open(args.faults, encoding="utf-8") as f:
                faults.set(rules_from_json(json.load(f)))
        except (OSError, ValueError) as e:
            raise SystemExit(f"fault_proxy: faults file {args.faults}: {e}") from e
    servers = [
        ProxyServer(("127.0.0.1", args.consul_port), "consul",
                    upstream_of(args.consul_upstream), faults),
        ProxyServer(("127.0.0.1", args.nomad_port), "nomad",
                    upstream_of(args.nomad_upstream), faults),
    ]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        print(f"{server.agent} http://127.0.0.1:{server.server_address[1]}", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(1):
        pass
    for server in servers:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    main()
