#!/usr/bin/env python3
"""Checks Weft's Grafana dashboards and Prometheus rules against what weftd exports.

Usage: scripts/check-dashboards.py [REPO_ROOT]

- Every deploy/grafana/*.json is a Grafana dashboard: a JSON object with a
  title, a uid, an integer schemaVersion, and panels, each with a unique
  integer id, a type, a title, a datasource, a gridPos (h, w, x, y integers,
  x + w <= 24) and targets, each with a refId and a non-empty expr.
- Every metric name (weft_*) in a panel expr, a template query or a rule
  expr of deploy/prometheus/*.yml (not the *_test.yml files) is listed in
  deploy/metrics.txt, the names weftd exports (a weftd unit test checks that
  list against the exporter's real output).

Prints one line per problem and exits 1 if there is any; stdlib only.
"""

import json
import pathlib
import re
import sys

METRIC = re.compile(r"\bweft_[a-zA-Z0-9_]+")


def exported(root):
    lines = (root / "deploy" / "metrics.txt").read_text().splitlines()
    return {l.strip() for l in lines if l.strip() and not l.startswith("#")}


def check_dashboard(path, names, problems):
    where = path.name
    try:
        d = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        problems.append(f"{where}:{e.lineno}:{e.colno}: not JSON: {e.msg}")
        return
    if not isinstance(d, dict):
        problems.append(f"{where}: a dashboard is a JSON object")
        return
    for key, kind in [("title", str), ("uid", str), ("schemaVersion", int), ("panels", list)]:
        if not isinstance(d.get(key), kind):
            problems.append(f"{where}: missing or mistyped {key!r} ({kind.__name__})")
    exprs = []
    for v in d.get("templating", {}).get("list", []):
        q = v.get("query")
        if isinstance(q, str):
            exprs.append((f"variable {v.get('name')}", q))
    ids = set()
    for i, p in enumerate(d.get("panels") or []):
        at = f"{where}: panel {i}"
        if not isinstance(p, dict):
            problems.append(f"{at}: not an object")
            continue
        pid = p.get("id")
        if not isinstance(pid, int):
            problems.append(f"{at}: id must be an integer")
        elif pid in ids:
            problems.append(f"{at}: duplicate id {pid}")
        ids.add(pid)
        for key in ("type", "title"):
            if not isinstance(p.get(key), str) or not p.get(key):
                problems.append(f"{at}: missing {key!r}")
        if not isinstance(p.get("datasource"), (dict, str)):
            problems.append(f"{at}: missing 'datasource'")
        g = p.get("gridPos")
        if not isinstance(g, dict) or not all(isinstance(g.get(k), int) for k in "hwxy"):
            problems.append(f"{at}: gridPos needs integer h, w, x, y")
        elif g["x"] + g["w"] > 24 or g["w"] <= 0 or g["h"] <= 0:
            problems.append(f"{at}: gridPos {g} does not fit the 24-column grid")
        targets = p.get("targets")
        if p.get("type") != "row" and (not isinstance(targets, list) or not targets):
            problems.append(f"{at}: no targets")
            continue
        refs = set()
        for t in targets or []:
            expr = t.get("expr") if isinstance(t, dict) else None
            if not isinstance(expr, str) or not expr.strip():
                problems.append(f"{at}: a target has no expr")
                continue
            ref = t.get("refId")
            if not isinstance(ref, str) or ref in refs:
                problems.append(f"{at}: target refId missing or repeated ({ref!r})")
            refs.add(ref)
            exprs.append((f"panel {pid} {p.get('title')!r}", expr))
    for what, expr in exprs:
        for name in METRIC.findall(expr):
            if name not in names:
                problems.append(f"{where}: {what}: {name} is not exported by weftd")


def check_rules(path, names, problems):
    # Rule files are YAML; the only thing read here is each `expr:` value,
    # one line long in our files (promtool checks the rest).
    for n, line in enumerate(path.read_text().splitlines(), 1):
        m = re.match(r"\s*expr:\s*(.*)$", line)
        if not m:
            continue
        for name in METRIC.findall(m.group(1)):
            if name not in names:
                problems.append(f"{path.name}:{n}: {name} is not exported by weftd")


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    names = exported(root)
    problems = []
    dashboards = sorted((root / "deploy" / "grafana").glob("*.json"))
    if not dashboards:
        problems.append("deploy/grafana: no dashboards")
    for path in dashboards:
        check_dashboard(path, names, problems)
    for path in sorted((root / "deploy" / "prometheus").glob("*.yml")):
        if not path.name.endswith("_test.yml"):
            check_rules(path, names, problems)
    for p in problems:
        print(p)
    if problems:
        return 1
    print(f"dashboards ok: {len(dashboards)} dashboards, metric names checked against deploy/metrics.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
