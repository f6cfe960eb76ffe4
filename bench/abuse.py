#!/usr/bin/env python3
"""Abuse a running `hostloc serve` on loopback and print what it did (see bench/abuse.sh).

Each attack runs for a bounded time while a probe sends normal requests
(`GET /v1/lookup?url=95.211.0.1`, one new connection each) and records their latency; the
server's resident memory is sampled throughout. Only 127.0.0.1 is ever contacted.

usage: abuse.py HOST PORT PID [IDLE_CONNECTIONS]
"""

import asyncio
import statistics
import sys
import time

HOST, PORT, PID = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
IDLE = int(sys.argv[4]) if len(sys.argv) > 4 else 5000
NORMAL = b"GET /v1/lookup?url=95.211.0.1 HTTP/1.1\r\nHost: hostloc\r\nConnection: close\r\n\r\n"


def rss_mib():
    with open(f"/proc/{PID}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def read_answer(reader, limit=10.0):
    """The status code of the answer on `reader`, or None when the connection closes first."""
    try:
        line = await asyncio.wait_for(reader.readline(), limit)
    except (asyncio.TimeoutError, ConnectionError):
        return None
    if not line.startswith(b"HTTP/"):
        return None
    return int(line.split()[1])


async def exchange(request, limit=10.0):
    """Sends `request` on a new connection; the status and the whole answer."""
    reader, writer = await asyncio.open_connection(HOST, PORT)
    try:
        writer.write(request)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(-1), limit)
    except (ConnectionError, asyncio.TimeoutError):
        data = b""
    finally:
        writer.close()
    status = int(data.split()[1]) if data.startswith(b"HTTP/") else None
    return status, data


class Probe:
    """Normal requests, back to back, during an attack; latency and memory samples."""

    def __init__(self):
        self.latencies = []
        self.failures = 0
        self.peak_rss = 0.0

    async def run(self, stop):
        while not stop.is_set():
            started = time.perf_counter()
            try:
                status, _ = await exchange(NORMAL)
            except OSError:
                status = None
            if status == 200:
                self.latencies.append((time.perf_counter() - started) * 1000)
            else:
                self.failures += 1
            self.peak_rss = max(self.peak_rss, rss_mib())
            await asyncio.sleep(0.05)

    def summary(self):
        if not self.latencies:
            return f"normal requests: none answered ({self.failures} failed)"
        ordered = sorted(self.latencies)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        return (
            f"normal requests: {len(ordered)} answered 200, {self.failures} failed, "
            f"p50 {statistics.median(ordered):.1f} ms, p99 {p99:.1f} ms; "
            f"peak RSS {self.peak_rss:.1f} MiB"
        )


async def during(name, attack):
    stop = asyncio.Event()
    probe = Probe()
    probe_task = asyncio.create_task(probe.run(stop))
    started = time.perf_counter()
    outcome = await attack()
    stop.set()
    await probe_task
    print(f"{name} ({time.perf_counter() - started:.1f} s): {outcome}")
    print(f"    {probe.summary()}")


async def idle_connections():
    """IDLE connections that never send a byte; how many the server closed, and when."""
    opened = []
    for _ in range(IDLE):
        try:
            opened.append(await asyncio.open_connection(HOST, PORT))
        except OSError:
            break
    peak = rss_mib()
    started = time.perf_counter()

    async def closed_after(reader):
        try:
            await asyncio.wait_for(reader.read(1), 30)
            return time.perf_counter() - started
        except (asyncio.TimeoutError, ConnectionError):
            return None

    waits = await asyncio.gather(*(closed_after(reader) for reader, _ in opened))
    for _, writer in opened:
        writer.close()
    closed = [wait for wait in waits if wait is not None]
    last = f", the last after {max(closed):.1f} s" if closed else ""
    return (
        f"{len(opened)} opened (RSS {peak:.1f} MiB with all open), "
        f"{len(closed)} closed by the server within 30 s{last}"
    )


async def trickle():
    """1,000 connections sending their headers one byte a second."""
    request = b"GET /healthz HTTP/1.1\r\nHost: hostloc\r\nX-Slow: " + b"a" * 40 + b"\r\n\r\n"

    async def one():
        reader, writer = await asyncio.open_connection(HOST, PORT)
        started = time.perf_counter()
        sent = 0
        try:
            for byte in request:
                writer.write(bytes([byte]))
                await writer.drain()
                sent += 1
                try:
                    data = await asyncio.wait_for(reader.read(64), 1.0)
                    if not data:
                        break
                    if data.startswith(b"HTTP/1.1 200"):
                        return ("answered", sent, time.perf_counter() - started)
                except asyncio.TimeoutError:
                    pass
        except ConnectionError:
            pass
        finally:
            writer.close()
        return ("cut", sent, time.perf_counter() - started)

    results = await asyncio.gather(*(one() for _ in range(1000)))
    cut = [r for r in results if r[0] == "cut"]
    answered = len(results) - len(cut)
    longest = max((r[2] for r in cut), default=0)
    return (
        f"{len(cut)} cut off (after at most {longest:.1f} s, {max((r[1] for r in cut), default=0)}"
        f" of {len(request)} bytes sent), {answered} answered"
    )


async def oversized():
    """50 requests with a 1 MB header and 50 with a 100 kB query string."""
    header = b"GET /healthz HTTP/1.1\r\nHost: hostloc\r\nX-Big: " + b"a" * 1_000_000 + b"\r\n\r\n"
    query = b"GET /v1/lookup?url=" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: hostloc\r\n\r\n"
    outcomes = {}
    sample = {}
    for name, request in (("1 MB header", header), ("100 kB query", query)):
        answers = await asyncio.gather(*(exchange(request) for _ in range(50)))
        for status, data in answers:
            key = f"{name} → {status}"
            outcomes[key] = outcomes.get(key, 0) + 1
            body = data.split(b"\r\n\r\n", 1)[-1][:160]
            sample[status] = body.decode(errors="replace")
    text = ", ".join(f"{count}× {key}" for key, count in outcomes.items())
    bodies = "; ".join(f"{status}: {body}" for status, body in sample.items())
    return f"{text}\n    bodies: {bodies}"


async def flood():
    """2,000 lookups at once of names whose DNS never answers (each holds a slot for the DNS
    timeout), past the concurrency limit; then 100 more after."""
    async def one(index):
        request = (
            f"GET /v1/lookup?url=flood-{index}.example.nl HTTP/1.1\r\nHost: h\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        status, data = await exchange(request, limit=30)
        retry = b"\r\nretry-after: 1\r\n" in data.lower()
        return status, retry

    answers = await asyncio.gather(*(one(index) for index in range(2000)))
    counts = {}
    for status, retry in answers:
        key = f"{status}{' + Retry-After' if retry else ''}"
        counts[key] = counts.get(key, 0) + 1
    after = await asyncio.gather(*(exchange(NORMAL) for _ in range(100)))
    after_ok = sum(1 for status, _ in after if status == 200)
    text = ", ".join(f"{count}× {key}" for key, count in sorted(counts.items()))
    return f"{text}; afterwards {after_ok}/100 normal requests answered 200"


async def main():
    print(f"server pid {PID}, RSS at start {rss_mib():.1f} MiB")
    await during(f"{IDLE} idle connections that send nothing", idle_connections)
    await during("1,000 connections trickling headers a byte a second", trickle)
    await during("oversized requests", oversized)
    await during("flood past the concurrency limit", flood)
    print(f"RSS at the end {rss_mib():.1f} MiB")


asyncio.run(main())
