#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Ground truth for the ksmpart demo, independent of KSM's own counters.

  memscan.py snapshot OUT.json TENANT=CGROUP_DIR...
      For every process of every tenant (the cgroup's cgroup.procs): anonymous
      memory from /proc/PID/smaps_rollup, /proc/PID/ksm_stat, and the PFN of
      every anonymous page (/proc/PID/pagemap, as root) in every private
      mapping (file-backed ones included: their copied-on-write pages are
      anonymous and global KSM merges them too). Prints per tenant the pages
      saved (pages mapped minus distinct PFNs), the PFNs shared between
      processes of the tenant, and the PFNs shared with other tenants (with
      the content of the latter classified as zero-filled or not). The shared
      zero page, which every process maps, is left out.

  memscan.py summary RUNDIR
      The end of the demo: reads the snapshots and the ksmpart-tool JSON the
      demo saved in RUNDIR, prints the comparison tables and checks the claims
      of the demo; exits 1 if any fails.
"""
import array
import ctypes
import json
import mmap
import os
import sys

PAGE = os.sysconf("SC_PAGESIZE")
MIB = 1 << 20
PM_PRESENT = 1 << 63
PM_FILE_OR_SHARED = 1 << 61
PFN_MASK = (1 << 55) - 1
KSM_SYSFS = "/sys/kernel/mm/ksm"


def zero_pfn():
    """The PFN of the shared zero page: what a read fault of never-written
    anonymous memory maps."""
    m = mmap.mmap(-1, PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    _ = m[0]
    addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
    with open("/proc/self/pagemap", "rb") as f:
        f.seek(addr // PAGE * 8)
        entry = int.from_bytes(f.read(8), "little")
    if not entry & PM_PRESENT or not entry & PFN_MASK:
        sys.exit("memscan: cannot read PFNs from /proc/self/pagemap (not root?)")
    return entry & PFN_MASK


def read_kv(path):
    out = {}
    with open(path) as f:
        for line in f:
            key, _, val = line.partition(":" if ":" in line else " ")
            val = val.split()
            if val and val[0].lstrip("-").isdigit():
                out[key.strip()] = int(val[0])
    return out


def anon_pages(pid):
    """[(address, pfn)] of the present anonymous pages of private mappings."""
    pages = []
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/pagemap", "rb", 0) as pm:
        for line in maps:
            fields = line.split(maxsplit=5)
            perms, name = fields[1], fields[5].strip() if len(fields) > 5 else ""
            # shared mappings hold no anonymous pages; [vdso]/[vvar]/[vsyscall]
            # are the kernel's; PROT_NONE areas are reservations
            if perms[3] != "p" or perms[:3] == "---":
                continue
            if name.startswith("[") and name not in ("[heap]", "[stack]") \
                    and not name.startswith("[anon:"):
                continue
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            pm.seek(lo // PAGE * 8)
            entries = array.array("Q")
            entries.frombytes(pm.read((hi - lo) // PAGE * 8))
            for i, e in enumerate(entries):
                if e & PM_PRESENT and not e & PM_FILE_OR_SHARED:
                    pages.append((lo + i * PAGE, e & PFN_MASK))
    return pages


def is_zero_filled(pid, addr):
    with open(f"/proc/{pid}/mem", "rb", 0) as mem:
        mem.seek(addr)
        return mem.read(PAGE).count(0) == PAGE


def snapshot(out_path, specs):
    zpfn = zero_pfn()
    procs = []       # (tenant, pid, [(addr, pfn)])
    snap = {"tenants": {}, "ksm": {}}
    for spec in specs:
        tenant, _, cgroup = spec.partition("=")
        with open(os.path.join(cgroup, "cgroup.procs")) as f:
            pids = sorted(int(p) for p in f.read().split())
        if not pids:
            sys.exit(f"memscan: no processes in {cgroup}")
        t = snap["tenants"][tenant] = {"processes": [], "pages": 0,
                                       "zero_page_mappings": 0}
        for pid in pids:
            roll = read_kv(f"/proc/{pid}/smaps_rollup")
            pages = anon_pages(pid)
            procs.append((tenant, pid, pages))
            t["processes"].append({
                "pid": pid,
                "rss_anon_kib": roll.get("Anonymous", 0),
                "pss_anon_kib": roll.get("Pss_Anon", 0),
                "ksm_stat": read_kv(f"/proc/{pid}/ksm_stat"),
            })

    # pfn -> {tenant: set(pids)}, and one place to read each page from
    where = {}
    probe = {}
    for tenant, pid, pages in procs:
        t = snap["tenants"][tenant]
        for addr, pfn in pages:
            if pfn == zpfn:
                t["zero_page_mappings"] += 1
                continue
            t["pages"] += 1
            where.setdefault(pfn, {}).setdefault(tenant, set()).add(pid)
            probe.setdefault(pfn, (pid, addr))

    for tenant, t in snap["tenants"].items():
        mine = [owners[tenant] for owners in where.values() if tenant in owners]
        t["distinct_pfns"] = len(mine)
        t["saved_pages"] = t["pages"] - t["distinct_pfns"]
        t["shared_within"] = sum(1 for pids in mine if len(pids) > 1)
        t["shared_across"] = sum(1 for owners in where.values()
                                 if tenant in owners and len(owners) > 1)
    across = [pfn for pfn, owners in where.items() if len(owners) > 1]
    pairs = {}
    zero_filled = 0
    for pfn in across:
        key = "+".join(sorted(where[pfn]))
        pairs[key] = pairs.get(key, 0) + 1
        zero_filled += is_zero_filled(*probe[pfn])
    snap["across"] = {"pfns": len(across), "zero_filled": zero_filled, "by_tenants": pairs}
    total_pages = sum(t["pages"] for t in snap["tenants"].values())
    snap["total"] = {"pages": total_pages, "distinct_pfns": len(where),
                     "saved_pages": total_pages - len(where)}
    for f in ("pages_shared", "pages_sharing", "general_profit", "full_scans"):
        with open(os.path.join(KSM_SYSFS, f)) as fh:
            snap["ksm"][f] = int(fh.read())
    with open(out_path, "w") as f:
        json.dump(snap, f, indent=1)
    print_snapshot(snap)


def mib(count, unit):
    return count * unit / MIB


def table(header, rows, left=1):
    """Aligned columns: the first `left` ones left-aligned, the others (numbers)
    right-aligned."""
    cells = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for n, r in enumerate(cells):
        line = "  ".join(c.ljust(w) if i < left else c.rjust(w)
                         for i, (c, w) in enumerate(zip(r, widths)))
        print("  " + line.rstrip())
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))


def print_snapshot(snap):
    print("  (anon and Pss: smaps_rollup; pages: anonymous pages mapped, without the zero page;")
    print("   saved = pages - distinct PFNs; PFNs shared within/across: mapped by several")
    print("   processes of the tenant / by processes of other tenants too)")
    rows = []
    for tenant, t in snap["tenants"].items():
        ps = t["processes"]
        rows.append([tenant, len(ps),
                     f"{sum(p['rss_anon_kib'] for p in ps) / 1024:.1f}",
                     f"{sum(p['pss_anon_kib'] for p in ps) / 1024:.1f}",
                     t["pages"], t["distinct_pfns"],
                     f"{mib(t['saved_pages'], PAGE):.1f}",
                     t["shared_within"], t["shared_across"]])
    table(["tenant", "procs", "anon MiB", "Pss MiB", "pages", "distinct PFNs",
           "saved MiB", "PFNs shared within", "PFNs shared across"], rows)
    a = snap["across"]
    print(f"  PFNs shared across tenants: {a['pfns']}"
          + (f" ({a['zero_filled']} zero-filled; "
             + ", ".join(f"{k}: {v}" for k, v in sorted(a["by_tenants"].items())) + ")"
             if a["pfns"] else ""))
    zero = sum(t["zero_page_mappings"] for t in snap["tenants"].values())
    print(f"  (the shared zero page, mapped {zero} times by read faults, is left out)")
    tot = snap["total"]
    print(f"  all tenants: {tot['pages']} anonymous pages in {tot['distinct_pfns']} PFNs, "
          f"{mib(tot['saved_pages'], PAGE):.1f} MiB saved; "
          f"/sys/kernel/mm/ksm: pages_sharing {snap['ksm']['pages_sharing']}, "
          f"general_profit {snap['ksm']['general_profit'] / MIB:.1f} MiB")


def load(rundir, name):
    with open(os.path.join(rundir, name)) as f:
        return json.load(f)


def summary(rundir):
    before = load(rundir, "before.json")
    part = load(rundir, "partition.json")
    glob = load(rundir, "global.json")
    failures = []

    def check(ok, what):
        if not ok:
            failures.append(what)

    print("Per tenant, partitions (Pss = proportional set size of anonymous memory):")
    rows = []
    for tenant, b in before["tenants"].items():
        p = part["tenants"][tenant]
        stats = load(rundir, f"stats.{tenant}.json")
        merge = load(rundir, f"merge.{tenant}.json")
        pss_b = sum(x["pss_anon_kib"] for x in b["processes"])
        pss_a = sum(x["pss_anon_kib"] for x in p["processes"])
        rows.append([tenant, f"{pss_b / 1024:.1f}", f"{pss_a / 1024:.1f}",
                     f"{(pss_b - pss_a) / 1024:.1f}", f"{mib(p['saved_pages'], PAGE):.1f}",
                     f"{merge['total']['bytes_saved'] / MIB:.1f}",
                     f"{mib(stats['pages_sharing'], PAGE):.1f}",
                     f"{stats['general_profit'] / MIB:.1f}"])
        check(p["saved_pages"] > 0, f"{tenant}: no page saved in its partition")
        check(p["shared_within"] > 0, f"{tenant}: no PFN shared between its processes")
        check(p["saved_pages"] == stats["pages_sharing"],
              f"{tenant}: pagemap says {p['saved_pages']} pages saved, the partition's "
              f"pages_sharing {stats['pages_sharing']}")
        check(stats["members"] == len(p["processes"]),
              f"{tenant}: {stats['members']} members, {len(p['processes'])} processes")
        check(merge["total"]["failed"] == 0, f"{tenant}: merge failed for some process")
        check(p["shared_across"] == 0,
              f"{tenant}: {p['shared_across']} PFNs shared with other tenants in partitions")
        check(b["shared_within"] == 0 and b["shared_across"] == 0,
              f"{tenant}: PFNs shared before any merging")
    table(["tenant", "Pss before", "Pss after", "Pss saved", "saved (pagemap)",
           "saved (merge)", "pages_sharing", "general_profit"], rows)
    print("  (MiB; saved (merge) = what ksmpart-tool merge reported, pages_sharing and"
          " general_profit = ksmpart-tool stats)")
    check(part["across"]["pfns"] == 0,
          f"{part['across']['pfns']} PFNs shared across tenants in partitions")
    across_nonzero = glob["across"]["pfns"] - glob["across"]["zero_filled"]
    check(across_nonzero > 0, "global KSM merged no (non-zero-filled) page across tenants: "
          "the comparison shows no leak")
    check(glob["total"]["saved_pages"] > 0, "global KSM saved nothing")

    print()
    print("Summary (MiB; PFNs = physical pages mapped by more than one process):")
    rows = []
    for tenant, b in before["tenants"].items():
        p, g = part["tenants"][tenant], glob["tenants"][tenant]
        rows.append([tenant, len(b["processes"]),
                     f"{sum(x['rss_anon_kib'] for x in b['processes']) / 1024:.1f}",
                     f"{mib(p['saved_pages'], PAGE):.1f}", p["shared_within"],
                     p["shared_across"], g["shared_across"]])
    rows.append(["all", sum(len(b["processes"]) for b in before["tenants"].values()),
                 f"{sum(x['rss_anon_kib'] for b in before['tenants'].values() for x in b['processes']) / 1024:.1f}",
                 f"{mib(part['total']['saved_pages'], PAGE):.1f}",
                 sum(p["shared_within"] for p in part["tenants"].values()),
                 part["across"]["pfns"], glob["across"]["pfns"]])
    table(["tenant", "processes", "anon MiB", "saved MiB (partition)",
           "shared PFNs within", "across tenants (partition)",
           "across tenants (global KSM)"], rows)
    g_saved = glob["total"]["saved_pages"]
    g_across = g_saved - sum(t["saved_pages"] for t in glob["tenants"].values())
    print()
    print(f"  partitions: {mib(part['total']['saved_pages'], PAGE):.1f} MiB saved, "
          f"{part['across']['pfns']} physical pages shared across tenants")
    print(f"  global KSM: {mib(g_saved, PAGE):.1f} MiB saved, {mib(g_across, PAGE):.1f} MiB of it "
          f"by merging pages of different tenants into {glob['across']['pfns']} shared PFNs")
    print(f"              ({glob['across']['zero_filled']} of them zero-filled): the saving "
          "partitions give up for isolation")
    print()
    if failures:
        for f in failures:
            print(f"FAIL: {f}")
        return 1
    print("PASS: every tenant saved memory inside its partition, no physical page was shared")
    print("      across tenants under partitions, and global KSM shared "
          f"{across_nonzero} non-zero pages across them.")
    return 0


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "snapshot":
        snapshot(sys.argv[2], sys.argv[3:])
        return 0
    if len(sys.argv) == 3 and sys.argv[1] == "summary":
        return summary(sys.argv[2])
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main())
