#!/usr/bin/env python3
"""Read latency of rollout-sandbox's Nomad API with many settled jobs (not a test).

Starts the given rollout-sandbox on free ports, registers N one-allocation raw_exec jobs
(`sleep`, task_states health, so each gets a deployment that completes), waits until every
deployment is successful, then reports the sandbox's CPU over an idle window and the
latency of sequential GET /v1/job/<id> (p50/p99). Stops the sandbox with SIGTERM.

  read_latency_bench.py BUILD/sandbox/rollout-sandbox [--jobs 1000] [--reads 1000]
"""
import argparse
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

SECOND = 1_000_000_000


def job(name):
    return {"Job": {
        "ID": name, "Name": name, "Type": "service", "Datacenters": ["dc1"],
        "Update": {"MaxParallel": 1, "HealthCheck": "task_states",
                   "MinHealthyTime": SECOND // 10, "HealthyDeadline": 60 * SECOND,
                   "ProgressDeadline": 120 * SECOND},
        "TaskGroups": [{"Name": "web", "Count": 1, "Tasks": [{
            "Name": "app", "Driver": "raw_exec",
            "Config": {"command": "/bin/sleep", "args": ["100000"]},
            "KillTimeout": SECOND, "Resources": {"CPU": 20, "MemoryMB": 16}}]}]}}


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("sandbox")
    p.add_argument("--jobs", type=int, default=1000)
    p.add_argument("--reads", type=int, default=1000)
    p.add_argument("--idle", type=float, default=10.0)
    a = p.parse_args()
    data = tempfile.mkdtemp(prefix="sbx-bench-")
    proc = subprocess.Popen([a.sandbox, "--consul-addr", "127.0.0.1:0", "--nomad-addr",
                             "127.0.0.1:0", "--data-dir", data], stdout=subprocess.PIPE, text=True)
    try:
        nomad = None
        deadline = time.monotonic() + 20
        while nomad is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line.startswith("nomad "):
                nomad = line.split()[1].removeprefix("http://")
        if nomad is None:
            sys.exit("sandbox did not print its nomad address")
        host, port = nomad.split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)

        def call(method, path, body=None):
            conn.request(method, path, body=json.dumps(body) if body is not None else None)
            r = conn.getresponse()
            return r.status, r.read()

        names = [f"bench-{i:04d}" for i in range(a.jobs)]
        t0 = time.monotonic()
        for n in names:
            status, body = call("POST", "/v1/jobs", job(n))
            if status != 200:
                sys.exit(f"register {n}: {status} {body[:200]}")
        register_s = time.monotonic() - t0
        deadline = time.monotonic() + 300
        while True:
            _, body = call("GET", "/v1/deployments")
            deps = json.loads(body)
            done = sum(1 for d in deps if d["Status"] == "successful")
            if done == a.jobs:
                break
            if time.monotonic() > deadline:
                sys.exit(f"only {done}/{a.jobs} deployments successful after 300 s")
            time.sleep(0.5)
        settle_s = time.monotonic() - t0
        time.sleep(2)
        c0, w0 = cpu_seconds(proc.pid), time.monotonic()
        time.sleep(a.idle)
        idle_cpu = (cpu_seconds(proc.pid) - c0) / (time.monotonic() - w0)
        lat = []
        rng = random.Random(1)
        for _ in range(a.reads):
            n = rng.choice(names)
            s = time.perf_counter()
            status, _ = call("GET", "/v1/job/" + n)
            lat.append(time.perf_counter() - s)
            if status != 200:
                sys.exit(f"GET {n}: {status}")
        lat.sort()
        pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000
        print(json.dumps({"jobs": a.jobs, "register_s": round(register_s, 2),
                          "all_successful_s": round(settle_s, 2),
                          "idle_cpu_cores": round(idle_cpu, 3),
                          "get_job_ms": {"p50": round(pick(0.5), 3), "p99": round(pick(0.99), 3),
                                         "max": round(lat[-1] * 1000, 3)}}))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    main()
