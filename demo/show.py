#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Print what ksmpart-tool --json wrote, for the demo (so it needs no jq).

  show.py create|merge|stats|leave|release FILE...

Each FILE holds one invocation's JSON object; FILE names end in .TENANT.json.
"""
import json
import sys

from memscan import MIB, table


def mib(b):
    return f"{b / MIB:.1f}"


def show(kind, docs):
    if kind == "create":
        for d in docs:
            print(f"  partition {d['name']}: id {d['id']}, mode {d.get('mode', '-')}, "
                  f"held by process {d['holder_pid']} ({d['pidfile']})")
    elif kind == "merge":
        for d in docs:
            t = d["total"]
            print(f"  partition {d['partition']}:")
            table(["pid", "status", "joined", "scanned", "merged", "candidates", "saved MiB"],
                  [[p["pid"], p["status"], "yes" if p["joined"] else "no", p["pages_scanned"],
                    p["pages_merged"], p["pages_unshared"], mib(p["bytes_saved"])]
                   for p in d["processes"]]
                  + [["all", f"{t['failed']} failed", "", t["pages_scanned"],
                      t["pages_merged"], t["pages_unshared"], mib(t["bytes_saved"])]],
                  left=3)
    elif kind == "stats":
        table(["partition", "id", "members", "pages_shared", "pages_sharing", "candidates",
               "rmap_items", "general_profit MiB", "merge CPU ms"],
              [[d["name"], d["id"], d["members"], d["pages_shared"], d["pages_sharing"],
                d["pages_unshared"], d["rmap_items"], mib(d["general_profit"]),
                d["merge_time_ns"] // 1000000] for d in docs])
    elif kind == "leave":
        for d in docs:
            ok = sum(p["status"] == "ok" for p in d["processes"])
            print(f"  partition {d['partition']}: {ok} of {len(d['processes'])} processes left")
    elif kind == "release":
        for d in docs:
            print(f"  partition {d['name']}: holder {d['holder_pid']} stopped, "
                  f"partition {'still exists' if d['exists'] else 'gone'}")
    else:
        sys.exit(__doc__)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    docs = []
    for path in sys.argv[2:]:
        with open(path) as f:
            docs.append(json.load(f))
    show(sys.argv[1], docs)


if __name__ == "__main__":
    main()
