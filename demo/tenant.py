#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A tenant process of the ksmpart demo: a Python service that imports a
typical set of standard modules and builds its data set deterministically
from the tenant name, so the processes of one tenant hold identical pages and
those of different tenants hold identical interpreter/module pages but
different data. Then it sleeps, doing nothing that writes memory, until told:

  SIGUSR1  opt in to global KSM: prctl(PR_SET_MEMORY_MERGE, 1); writes
           RUNDIR/global.PID with "0" or the errno
  SIGUSR2  check the data against the digest taken at start; writes
           RUNDIR/verify.PID with "ok" or "corrupt"
  SIGTERM  exit

Usage: tenant.py TENANT RUNDIR   (writes RUNDIR/ready.PID when built)
"""
import argparse
import asyncio  # noqa: F401 (imported for its memory, like a real service)
import csv  # noqa: F401
import ctypes
import decimal
import difflib  # noqa: F401
import email.mime.multipart  # noqa: F401
import email.mime.text  # noqa: F401
import email.parser  # noqa: F401
import fractions  # noqa: F401
import gc
import hashlib
import http.server  # noqa: F401
import json
import logging  # noqa: F401
import os
import pickle
import random
import signal
import sqlite3
import statistics  # noqa: F401
import sys
import urllib.request  # noqa: F401
import xml.dom.minidom  # noqa: F401
import xml.etree.ElementTree as ET
import zipfile  # noqa: F401

PR_SET_MEMORY_MERGE = 67


def build(tenant):
    """The tenant's data: records, a JSON document, an XML tree, an
    in-memory SQLite table and a binary blob, all a function of the name."""
    rng = random.Random(tenant)
    records = [{"id": i,
                "name": f"{tenant}-user-{i:06d}",
                "balance": decimal.Decimal(rng.randrange(10**8)) / 100,
                "tags": [rng.choice("abcdefgh") for _ in range(3)]}
               for i in range(12000)]
    doc = json.dumps(records[:3000], default=str)
    root = ET.Element("accounts", tenant=tenant)
    for r in records[:2000]:
        ET.SubElement(root, "account", id=str(r["id"]), name=r["name"])
    db = sqlite3.connect(":memory:")
    db.execute("create table accounts(id integer primary key, name text, balance text)")
    db.executemany("insert into accounts values (?, ?, ?)",
                   ((r["id"], r["name"], str(r["balance"])) for r in records))
    db.commit()
    blob = rng.randbytes(4 << 20)
    return records, doc, root, db, blob


def digest(records, doc, root, db, blob):
    h = hashlib.sha256()
    h.update(pickle.dumps(records))
    h.update(doc.encode())
    h.update(ET.tostring(root))
    h.update(repr(db.execute("select count(*), sum(id), group_concat(balance) from accounts")
                  .fetchone()).encode())
    h.update(blob)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tenant")
    ap.add_argument("rundir")
    args = ap.parse_args()
    data = build(args.tenant)
    expected = digest(*data)
    libc = ctypes.CDLL(None, use_errno=True)
    pid = os.getpid()

    def report(kind, text):
        path = os.path.join(args.rundir, f"{kind}.{pid}")
        with open(path + ".tmp", "w") as f:
            f.write(text + "\n")
        os.rename(path + ".tmp", path)

    def opt_in(_sig, _frame):
        rc = libc.prctl(PR_SET_MEMORY_MERGE, 1, 0, 0, 0)
        report("global", "0" if rc == 0 else str(ctypes.get_errno()))

    def verify(_sig, _frame):
        report("verify", "ok" if digest(*data) == expected else "corrupt")

    signal.signal(signal.SIGUSR1, opt_in)
    signal.signal(signal.SIGUSR2, verify)
    # Garbage collection now, not while the pages are being merged.
    gc.collect()
    gc.freeze()
    report("ready", expected)
    while True:
        signal.pause()


if __name__ == "__main__":
    sys.exit(main())
