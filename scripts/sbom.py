#!/usr/bin/env python3
"""A CycloneDX 1.5 JSON SBOM of what the weft package's binaries are built from.

Reads `cargo metadata` (the resolved graph for Linux x86_64) and Cargo.lock
(checksums), walks the normal (not dev, not build) dependencies of the
packaged crates (`weftd`, `weft`), and writes one component per crate with
its version, purl, licence expression, source and SHA-256, plus the
dependency graph. Used by scripts/package.sh; no network.

Usage: scripts/sbom.py OUT.json [CRATE...]   (default crates: weftd weft)
"""

import datetime
import json
import os
import re
import subprocess
import sys
import tomllib
import uuid

CRATES_IO = "registry+https://github.com/rust-lang/crates.io-index"


def metadata():
    out = subprocess.run(
        ["cargo", "metadata", "--locked", "--format-version", "1",
         "--filter-platform", "x86_64-unknown-linux-gnu"],
        check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def checksums(root):
    with open(os.path.join(root, "Cargo.lock"), "rb") as f:
        lock = tomllib.load(f)
    return {(p["name"], p["version"]): p.get("checksum") for p in lock["package"]}


def purl(pkg):
    return f"pkg:cargo/{pkg['name']}@{pkg['version']}"


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out_path, roots = sys.argv[1], sys.argv[2:] or ["weftd", "weft"]
    meta = metadata()
    sums = checksums(meta["workspace_root"])
    pkgs = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    members = set(meta["workspace_members"])

    def normal_deps(node_id):
        for d in nodes[node_id]["deps"]:
            if any(k["kind"] is None for k in d["dep_kinds"]):
                yield d["pkg"]

    start = [i for i in members if pkgs[i]["name"] in roots]
    seen, todo = set(), list(start)
    while todo:
        i = todo.pop()
        if i not in seen:
            seen.add(i)
            todo.extend(normal_deps(i))

    components, graph = [], []
    for i in sorted(seen, key=lambda i: (pkgs[i]["name"], pkgs[i]["version"])):
        p = pkgs[i]
        c = {
            "type": "application" if p["name"] in roots else "library",
            "bom-ref": purl(p),
            "name": p["name"],
            "version": p["version"],
            "purl": purl(p),
            "scope": "required",
        }
        if p.get("license"):
            # Old crates write "MIT/Apache-2.0"; SPDX says OR.
            c["licenses"] = [{"expression": re.sub(r"\s*/\s*", " OR ", p["license"])}]
        if p.get("description"):
            c["description"] = p["description"].strip()
        if p.get("source") == CRATES_IO:
            url = f"https://crates.io/crates/{p['name']}/{p['version']}"
            c["externalReferences"] = [{"type": "distribution", "url": url}]
        digest = sums.get((p["name"], p["version"]))
        if digest:
            c["hashes"] = [{"alg": "SHA-256", "content": digest}]
        components.append(c)
        deps = sorted({purl(pkgs[d]) for d in normal_deps(i)})
        graph.append({"ref": purl(p), "dependsOn": deps})

    version = next(pkgs[i]["version"] for i in start)
    bom = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": f"urn:uuid:{uuid.uuid4()}",
        "version": 1,
        "metadata": {
            "timestamp": datetime.datetime.now(datetime.timezone.utc)
            .strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tools": {"components": [{"type": "application", "name": "weft scripts/sbom.py"}]},
            "component": {"type": "application", "bom-ref": "pkg:deb/weft@" + version,
                          "name": "weft", "version": version,
                          "licenses": [{"expression": "Apache-2.0"}]},
        },
        "components": components,
        "dependencies": graph,
    }
    with open(out_path, "w") as f:
        json.dump(bom, f, indent=1)
        f.write("\n")
    print(f"sbom: {out_path}: {len(components)} components")


if __name__ == "__main__":
    main()
