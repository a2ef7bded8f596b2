#!/usr/bin/env python3
"""Steady UDP stream for bench/failover.sh.

  udpstream.py send --src IP --dst IP:PORT [--rate 1000]
      Sends `seq (u64) | send time (f64, CLOCK_MONOTONIC)` datagrams at --rate per second
      until killed. Deadline-paced (no drift); send errors (no route...) are ignored.
  udpstream.py recv --bind IP:PORT --log FILE
      Appends one line `seq arrival_time` per datagram (CLOCK_MONOTONIC), flushed every
      ~20 ms so the bench can follow it while it runs.
  udpstream.py recv --bind IP:PORT --log FILE --send-times
      The same with a third column, the datagram's send time (for one-way delays;
      the other commands read only two-column logs).
  udpstream.py delays --log FILE --since T0 --until T1
      One-way delay (arrival - send time) of the datagrams that arrived in [T0, T1]
      of a --send-times log: prints `n p50_ms p99_ms max_ms`.
  udpstream.py now
      Prints CLOCK_MONOTONIC (shared by every network namespace of the host).
  udpstream.py wait-resume --log FILE --since T [--timeout S]
      Returns once the stream flows again after the cut at T: at least 0.3 s have passed,
      the last arrival is under 30 ms old and 100 datagrams arrived after the last gap.
      Exit 1 on timeout.
  udpstream.py gaps --log FILE --events FILE
      For every event line `mode trial uplink t_cut t_restore t_next`, prints
      `mode trial uplink gap_ms lost failback_gap_ms`: gap_ms is the largest
      inter-arrival gap in [t_cut - 0.5 s, t_restore] (an open gap counts up to
      t_restore), lost the sequence numbers missing in that window, failback_gap_ms
      the largest gap in [t_restore, t_next].
"""
import argparse
import bisect
import os
import socket
import struct
import sys
import time

PKT = struct.Struct("!Qd")


def hostport(s):
    h, p = s.rsplit(":", 1)
    return h, int(p)


def send(args):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((args.src, 0))
    dst = hostport(args.dst)
    pad = b"\0" * max(0, args.size - PKT.size)
    period = 1.0 / args.rate
    seq = 0
    nxt = time.monotonic()
    while True:
        now = time.monotonic()
        if now < nxt:
            time.sleep(nxt - now)
            now = time.monotonic()
        try:
            s.sendto(PKT.pack(seq, now) + pad, dst)
        except OSError:
            pass
        seq += 1
        nxt += period
        if now - nxt > 1.0:  # fell far behind (suspended?): do not burst
            nxt = now


def recv(args):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind(hostport(args.bind))
    s.settimeout(0.02)
    with open(args.log, "a", buffering=1 << 16) as f:
        last_flush = time.monotonic()
        while True:
            try:
                data = s.recv(2048)
                t = time.monotonic()
                if len(data) >= PKT.size:
                    seq, sent = PKT.unpack_from(data)
                    if args.send_times:
                        f.write(f"{seq} {t:.6f} {sent:.6f}\n")
                    else:
                        f.write(f"{seq} {t:.6f}\n")
            except socket.timeout:
                t = time.monotonic()
            if t - last_flush >= 0.02:
                f.flush()
                last_flush = t


def read_log(path):
    seqs, times = [], []
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) != 2:
                continue  # a line being written
            try:
                seqs.append(int(p[0]))
                times.append(float(p[1]))
            except ValueError:
                continue
    return seqs, times


def tail_times(path, since):
    """Arrival times after `since`, reading only the end of the log."""
    out = []
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - 400_000))
        for line in f.read().decode(errors="replace").splitlines():
            p = line.split()
            if len(p) == 2:
                try:
                    t = float(p[1])
                except ValueError:
                    continue
                if t > since:
                    out.append(t)
    return out


def wait_resume(args):
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = time.monotonic()
        if now < args.since + 0.3:
            continue
        ts = tail_times(args.log, args.since - 0.5)
        if not ts or now - ts[-1] > 0.03:
            continue
        # datagrams since the last gap > 20 ms
        n = 0
        for a, b in zip(reversed(ts[:-1]), reversed(ts)):
            if b - a > 0.02:
                break
            n += 1
        if n >= 100:
            return 0
    return 1


def max_gap(times, lo, hi):
    i = bisect.bisect_left(times, lo)
    j = bisect.bisect_right(times, hi)
    win = times[i:j]
    if not win:
        return (hi - lo), 0
    g = max(win[0] - lo if i == 0 else win[0] - times[i - 1], 0.0)
    for a, b in zip(win, win[1:]):
        g = max(g, b - a)
    g = max(g, hi - win[-1])  # still open at hi
    return g, len(win)


def gaps(args):
    seqs, times = read_log(args.log)
    order = sorted(range(len(times)), key=times.__getitem__)
    times = [times[k] for k in order]
    seqs = [seqs[k] for k in order]
    with open(args.events) as f:
        for line in f:
            p = line.split()
            if len(p) != 6:
                continue
            mode, trial, uplink = p[0], p[1], p[2]
            t_cut, t_restore, t_next = map(float, p[3:])
            g, _ = max_gap(times, t_cut - 0.5, t_restore)
            i = bisect.bisect_left(times, t_cut - 0.5)
            j = bisect.bisect_right(times, t_restore)
            w = sorted(set(seqs[i:j]))
            lost = (w[-1] - w[0] + 1 - len(w)) if w else -1
            fg, _ = max_gap(times, t_restore, t_next)
            print(f"{mode} {trial} {uplink} {g * 1000:.1f} {lost} {fg * 1000:.1f}")
    return 0


def delays(args):
    d = []
    with open(args.log) as f:
        for line in f:
            p = line.split()
            if len(p) != 3:
                continue
            try:
                arrival, sent = float(p[1]), float(p[2])
            except ValueError:
                continue
            if args.since <= arrival <= args.until:
                d.append((arrival - sent) * 1000.0)
    if not d:
        print("0 nan nan nan")
        return
    d.sort()
    pick = lambda q: d[min(len(d) - 1, int(q * len(d)))]
    print(f"{len(d)} {pick(0.5):.3f} {pick(0.99):.3f} {d[-1]:.3f}")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("send")
    p.add_argument("--src", required=True)
    p.add_argument("--dst", required=True)
    p.add_argument("--rate", type=float, default=1000.0)
    p.add_argument("--size", type=int, default=200)
    p = sub.add_parser("recv")
    p.add_argument("--bind", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--send-times", action="store_true")
    p = sub.add_parser("delays")
    p.add_argument("--log", required=True)
    p.add_argument("--since", type=float, required=True)
    p.add_argument("--until", type=float, required=True)
    sub.add_parser("now")
    p = sub.add_parser("wait-resume")
    p.add_argument("--log", required=True)
    p.add_argument("--since", type=float, required=True)
    p.add_argument("--timeout", type=float, default=10.0)
    p = sub.add_parser("gaps")
    p.add_argument("--log", required=True)
    p.add_argument("--events", required=True)
    args = ap.parse_args()
    if args.cmd == "send":
        send(args)
    elif args.cmd == "recv":
        recv(args)
    elif args.cmd == "delays":
        delays(args)
    elif args.cmd == "now":
        print(f"{time.monotonic():.6f}")
    elif args.cmd == "wait-resume":
        return wait_resume(args)
    elif args.cmd == "gaps":
        return gaps(args)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)
