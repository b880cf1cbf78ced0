#!/usr/bin/env python3
"""Tests of tests/support/fault_proxy.py against a stand-in upstream: the /_sandbox/faults
API and rule semantics of sandbox/common/faults.cpp, and the pass-through a real agent
needs (blocking queries, streamed bodies, index headers)."""
import http.client
import json
import os
import subprocess
import sys
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PROXY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fault_proxy.py")


class Upstream(BaseHTTPRequestHandler):
    """Echoes each request as JSON with an index header; ?index=N holds the answer 1.5 s
    (a blocking query); /stream answers in three chunks 0.4 s apart."""
    protocol_version = "HTTP/1.1"
    seen = []  # (agent-name, method, target, body)

    def log_message(self, *args):
        pass

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        Upstream.seen.append((self.server.name, self.command, self.path, body))
        if self.path.startswith("/stream"):
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(3):
                chunk = f"part{i}\n".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
                time.sleep(0.4)
            self.wfile.write(b"0\r\n\r\n")
            return
        if "index=" in self.path:
            time.sleep(1.5)
        status = 404 if self.path.startswith("/missing") else 200
        out = json.dumps({"agent": self.server.name, "method": self.command,
                          "target": self.path, "body": body.decode()}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Consul-Index" if self.server.name == "consul" else "X-Nomad-Index",
                         "42")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_PUT = do_POST = do_DELETE = _handle


def start_upstream(name):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    server.daemon_threads = True
    server.name = name
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class FaultProxyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.upstreams = {n: start_upstream(n) for n in ("consul", "nomad")}
        cls.proxy = subprocess.Popen(
            [sys.executable, PROXY,
             "--consul-upstream", f"http://127.0.0.1:{cls.upstreams['consul'].server_address[1]}",
             "--nomad-upstream", f"http://127.0.0.1:{cls.upstreams['nomad'].server_address[1]}"],
            stdout=subprocess.PIPE, text=True)
        cls.ports = {}
        for _ in range(2):
            line = cls.proxy.stdout.readline().split()
            assert len(line) == 2, f"proxy printed {line}"
            cls.ports[line[0]] = int(line[1].rsplit(":", 1)[1])

    @classmethod
    def tearDownClass(cls):
        cls.proxy.terminate()
        cls.proxy.wait(10)
        for server in cls.upstreams.values():
            server.shutdown()

    def setUp(self):
        self.request("consul", "DELETE", "/_sandbox/faults")
        Upstream.seen.clear()

    def request(self, agent, method, target, body=None, timeout=10):
        conn = http.client.HTTPConnection("127.0.0.1", self.ports[agent], timeout=timeout)
        try:
            conn.request(method, target, body=body)
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def set_faults(self, rules, agent="consul"):
        status, _, body = self.request(agent, "PUT", "/_sandbox/faults", json.dumps(rules))
        self.assertEqual(status, 200, body)
        return json.loads(body)

    def test_passes_requests_bodies_statuses_and_index_headers(self):
        status, headers, body = self.request("consul", "PUT", "/v1/kv/a?cas=0", b"value")
        self.assertEqual(status, 200)
        self.assertEqual(headers["X-Consul-Index"], "42")
        echo = json.loads(body)
        self.assertEqual((echo["agent"], echo["method"], echo["target"], echo["body"]),
                         ("consul", "PUT", "/v1/kv/a?cas=0", "value"))
        status, headers, _ = self.request("nomad", "GET", "/missing")
        self.assertEqual(status, 404)
        self.assertEqual(headers["X-Nomad-Index"], "42")

    def test_admin_api_lists_defaults_rejects_bad_rules_and_clears(self):
        listed = self.set_faults([{"path": "^/v1/kv/", "status": 503}], agent="nomad")
        self.assertEqual(listed, [{"agent": "", "path": "^/v1/kv/", "method": "", "rate": 1.0,
                                   "status": 503, "latency_ms": 0, "reset": False,
                                   "index_reset": False}])
        # One set of rules behind both ports.
        status, _, body = self.request("consul", "GET", "/_sandbox/faults")
        self.assertEqual((status, json.loads(body)), (200, listed))
        for bad in ({"path": "x"}, [1], [{"agent": "vault"}], [{"rate": 2}],
                    [{"status": 99}], [{"latency_ms": -1}], [{"path": "("}],
                    [{"status": "503"}]):
            status, _, _ = self.request("consul", "PUT", "/_sandbox/faults", json.dumps(bad))
            self.assertEqual(status, 400, bad)
        status, _, body = self.request("consul", "DELETE", "/_sandbox/faults")
        self.assertEqual((status, json.loads(body)), (200, []))

    def test_agent_and_method_select_the_rule(self):
        self.set_faults([{"agent": "nomad", "method": "POST", "path": "^/v1/job", "status": 503}])
        status, headers, body = self.request("nomad", "POST", "/v1/jobs", b"{}")
        self.assertEqual((status, body), (503, b"sandbox injected fault: 503"))
        self.assertTrue(headers["Content-Type"].startswith("text/plain"))
        self.assertEqual(self.request("nomad", "GET", "/v1/jobs")[0], 200)
        self.assertEqual(self.request("consul", "POST", "/v1/jobs", b"{}")[0], 200)
        self.assertEqual([s[:3] for s in Upstream.seen],
                         [("nomad", "GET", "/v1/jobs"), ("consul", "POST", "/v1/jobs")])

    def test_the_regex_is_searched_in_path_and_query(self):
        self.set_faults([{"path": "recurse", "status": 500}])
        self.assertEqual(self.request("consul", "GET", "/v1/kv/a?recurse")[0], 500)
        self.assertEqual(self.request("consul", "GET", "/v1/kv/a")[0], 200)

    def test_rate_zero_never_fires_and_the_first_firing_rule_wins(self):
        self.set_faults([{"path": "^/v1/", "rate": 0, "status": 500},
                         {"path": "^/v1/", "status": 429},
                         {"path": "^/v1/", "status": 503}])
        for _ in range(30):
            self.assertEqual(self.request("consul", "GET", "/v1/kv/a")[0], 429)

    def test_a_rate_fires_for_a_share_of_requests(self):
        self.set_faults([{"path": "^/v1/", "rate": 0.5, "status": 503}])
        failed = sum(self.request("consul", "GET", "/v1/kv/a")[0] == 503 for _ in range(200))
        # Binomial(200, 0.5): outside 60..140 with probability < 1e-8.
        self.assertTrue(60 <= failed <= 140, failed)

    def test_latency_delays_then_serves_or_fails(self):
        self.set_faults([{"path": "slow", "latency_ms": 400},
                         {"path": "fail", "latency_ms": 400, "status": 503}])
        start = time.monotonic()
        self.assertEqual(self.request("consul", "GET", "/v1/kv/slow")[0], 200)
        self.assertGreaterEqual(time.monotonic() - start, 0.4)
        start = time.monotonic()
        self.assertEqual(self.request("consul", "GET", "/v1/kv/fail")[0], 503)
        self.assertGreaterEqual(time.monotonic() - start, 0.4)

    def test_a_held_request_reaches_the_agent_after_its_client_is_gone(self):
        self.set_faults([{"agent": "nomad", "method": "POST", "latency_ms": 500}])
        with self.assertRaises(OSError):
            self.request("nomad", "POST", "/v1/job/hello", b"register", timeout=0.1)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not Upstream.seen:
            time.sleep(0.05)
        self.assertEqual(Upstream.seen, [("nomad", "POST", "/v1/job/hello", b"register")])

    def test_reset_answers_502_without_a_body(self):
        self.set_faults([{"path": "^/v1/", "reset": True}])
        self.assertEqual(self.request("consul", "GET", "/v1/kv/a")[::2], (502, b""))
        self.assertEqual(Upstream.seen, [])

    def test_index_reset_answers_at_once_with_index_1(self):
        self.set_faults([{"agent": "consul", "path": "^/v1/kv/", "index_reset": True}])
        start = time.monotonic()
        status, headers, body = self.request("consul", "GET", "/v1/kv/a?index=41&wait=30s&recurse")
        self.assertLess(time.monotonic() - start, 1.0)
        self.assertEqual((status, headers["X-Consul-Index"]), (200, "1"))
        self.assertEqual(json.loads(body)["target"], "/v1/kv/a?recurse")

    def test_blocking_queries_wait_as_long_as_the_agent(self):
        start = time.monotonic()
        status, headers, body = self.request("nomad", "GET", "/v1/job/hello?index=41&wait=5s")
        self.assertGreaterEqual(time.monotonic() - start, 1.5)
        self.assertEqual((status, headers["X-Nomad-Index"]), (200, "42"))
        self.assertEqual(json.loads(body)["target"], "/v1/job/hello?index=41&wait=5s")

    def test_streamed_bodies_pass_chunk_by_chunk(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.ports["nomad"], timeout=10)
        try:
            start = time.monotonic()
            conn.request("GET", "/stream")
            response = conn.getresponse()
            self.assertEqual(response.getheader("Transfer-Encoding"), "chunked")
            first = response.read1(100)
            # The first part arrives before the upstream has written the last (0.8 s on).
            self.assertEqual(first, b"part0\n")
            self.assertLess(time.monotonic() - start, 0.7)
            self.assertEqual(first + response.read(), b"part0\npart1\npart2\n")
        finally:
            conn.close()

    def test_keep_alive_connections_serve_several_requests(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.ports["consul"], timeout=10)
        try:
            for i in range(3):
                conn.request("PUT", f"/v1/kv/k{i}", body=b"v")
                response = conn.getresponse()
                self.assertEqual(response.status, 200)
                response.read()
        finally:
            conn.close()
        self.assertEqual(len(Upstream.seen), 3)


if __name__ == "__main__":
    unittest.main(verbosity=2)
