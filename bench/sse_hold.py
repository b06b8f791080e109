#!/usr/bin/env python3
"""sse_hold.py - holds N event streams (GET /clusters/NAME/events) open on a
kindling and reports what that costs it: its RSS and threads, read from
/proc/PID/status before the streams, while all N are held, and after they
closed, and the time until all N had their first bytes.

    sse_hold.py --target 127.0.0.1:PORT --cluster NAME --count N --pid PID [--hold SECS]

Prints one line of key=value pairs (bench/run.sh's raw format). Exits 1 when
fewer than N streams opened (kindling answers 503 past --max-event-streams).
"""
import argparse
import re
import selectors
import socket
import sys
import time
import urllib.error
import urllib.request


def status(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def get(url):
    """The status and body of GET url."""
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""


def open_streams(base):
    """kindling_event_streams_open from /metrics, or -1."""
    _, body = get(base + "/metrics")
    m = re.search(r"^kindling_event_streams_open (\d+)$", body, re.M)
    return int(m.group(1)) if m else -1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True)
    ap.add_argument("--cluster", required=True)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--hold", type=float, default=2.0)
    ap.add_argument("--timeout", type=float, default=60.0)
    a = ap.parse_args()
    host, port = a.target.rsplit(":", 1)
    req = (f"GET /clusters/{a.cluster}/events HTTP/1.1\r\nHost: {a.target}\r\n"
           "Accept: text/event-stream\r\n\r\n").encode()
    rss0 = status(a.pid, "VmRSS")
    sel = selectors.DefaultSelector()
    socks, got = [], {}
    t0 = time.monotonic()
    for _ in range(a.count):
        s = socket.create_connection((host, int(port)), timeout=10)
        s.sendall(req)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        socks.append(s)
        got[s] = b""
    opened, refused = set(), 0
    deadline = t0 + a.timeout
    while len(opened) + refused < a.count and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1):
            s = key.fileobj
            data = s.recv(65536)
            if not data:
                sel.unregister(s)
                refused += 1
                continue
            got[s] += data
            if s not in opened and b"events of cluster" in got[s]:
                if got[s].startswith(b"HTTP/1.1 200"):
                    opened.add(s)
                    got[s] = b""
                    sel.unregister(s)
            elif not got[s].startswith(b"HTTP/1.1 200") and b"\r\n\r\n" in got[s]:
                sel.unregister(s)
                refused += 1
    open_secs = time.monotonic() - t0
    time.sleep(a.hold)
    base = f"http://{a.target}"
    rss1 = status(a.pid, "VmRSS")
    hwm = status(a.pid, "VmHWM")
    threads = status(a.pid, "Threads")
    metric = open_streams(base)
    # one more than --max-event-streams allows: refused, not held
    extra, _ = get(f"{base}/clusters/{a.cluster}/events")
    for s in socks:
        s.close()
    # kindling finds a closed stream at its next keep-alive write
    t1 = time.monotonic()
    while open_streams(base) > 0 and time.monotonic() < t1 + a.timeout:
        time.sleep(0.2)
    closed_secs = time.monotonic() - t1
    rss2 = status(a.pid, "VmRSS")
    per = (rss1 - rss0) / max(len(opened), 1)
    print(f"streams={len(opened)} refused={refused} open_secs={open_secs:.3f} rss_kb_before={rss0} "
          f"rss_kb={rss1} hwm_kb={hwm} threads={threads} per_stream_kb={per:.1f} "
          f"metric_open={metric} extra_status={extra} closed_secs={closed_secs:.1f} "
          f"rss_kb_after={rss2} open_after={open_streams(base)}")
    return 0 if len(opened) == a.count else 1


if __name__ == "__main__":
    sys.exit(main())
