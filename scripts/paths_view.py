"""Prints an agent's /api/v1/paths JSON (on stdin) as a table. Used by scripts/demo.sh."""
import json
import sys

d = json.load(sys.stdin)
print("  site %s: %-5s %-6s %-18s %-9s %7s %7s %6s  %s"
      % (d["site"], "peer", "uplink", "remote", "state", "rtt ms", "jitter", "loss%", "classes"))
for p in d["paths"]:
    rtt = "-" if p["rtt_ms"] is None else "%.1f" % p["rtt_ms"]
    print("          %-5s %-6s %-18s %-9s %7s %7.1f %6.1f  %s"
          % (p["peer"], p["uplink"], p["remote"], p["state"], rtt, p["jitter_ms"], p["loss_pct"],
             ",".join(p["active_for"]) or "-"))
