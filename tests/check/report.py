#!/usr/bin/env python3
"""Summarise the suites of `make check`.

Reads RESULTS/NAME.tap (TAP, subtests indented), RESULTS/NAME.xml (GoogleTest
or CTest JUnit XML) and RESULTS/NAME.status (the suite's exit status), prints
one line per suite with its failures, and ends with the line
`N passed, N failed, N skipped`. A suite that exited non-zero, crashed before
its plan was complete, or an extra failure named with --fail (a kernel splat,
a timeout) counts as a failed test. Exits 1 if anything failed or nothing ran.
"""
import argparse
import pathlib
import re
import sys
import xml.etree.ElementTree as ET

POINT = re.compile(r"^(?P<indent>\s*)(?P<not>not )?ok\b\s*(?P<num>\d+)?\s*-?\s*(?P<desc>[^#]*)(?:#\s*(?P<dir>\w+)\s*(?P<why>.*))?$")
PLAN = re.compile(r"^1\.\.(\d+)")


class Suite:
    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failed = []
        self.skipped = 0

    def add(self, ok, desc, directive=""):
        directive = (directive or "").upper()
        if directive == "SKIP":
            self.skipped += 1
        elif ok or directive in ("TODO", "XFAIL"):
            self.passed += 1
        else:
            self.failed.append(desc)


def parse_tap(suite, text):
    """Count leaf points; a point that only summarises an indented subtest
    counts just when it failed although no point of its subtest did."""
    plan = None
    top_points = 0
    child_failed = False
    child_seen = False
    for line in text.splitlines():
        if plan is None and PLAN.match(line):
            plan = int(PLAN.match(line).group(1))
            continue
        m = POINT.match(line)
        if not m:
            continue
        ok = m.group("not") is None
        desc = m.group("desc").strip()
        if m.group("indent"):
            child_seen = True
            before = len(suite.failed)
            suite.add(ok, desc, m.group("dir"))
            child_failed |= len(suite.failed) > before
            continue
        top_points += 1
        if child_seen:
            if not ok and not child_failed:
                suite.add(False, desc)
            child_seen = child_failed = False
        else:
            suite.add(ok, desc, m.group("dir"))
    if plan is not None and top_points != plan:
        suite.failed.append(f"planned {plan} tests, {top_points} reported (crashed?)")
    if plan is None and top_points == 0 and not suite.passed:
        suite.failed.append("no TAP output")


def parse_xml(suite, path):
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        suite.failed.append(f"unreadable XML: {e}")
        return
    for case in root.iter("testcase"):
        name = ".".join(filter(None, (case.get("classname"), case.get("name"))))
        if case.find("failure") is not None or case.find("error") is not None or case.get("status") == "fail":
            suite.failed.append(name)
        elif (case.find("skipped") is not None or case.get("result") == "skipped"
              or case.get("status") in ("notrun", "disabled")):
            suite.skipped += 1
        else:
            suite.passed += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", type=pathlib.Path)
    ap.add_argument("--fail", action="append", default=[], metavar="WHAT",
                    help="count WHAT as one failed test (e.g. a kernel splat)")
    args = ap.parse_args()

    suites = []
    names = sorted({p.stem for p in args.results.glob("*") if p.suffix in (".tap", ".xml", ".status")})
    for name in names:
        suite = Suite(name)
        tap, xml, status = (args.results / f"{name}{ext}" for ext in (".tap", ".xml", ".status"))
        if tap.exists():
            parse_tap(suite, tap.read_text(errors="replace"))
        elif xml.exists():
            parse_xml(suite, xml)
        else:
            suite.failed.append("produced no results")
        rc = status.read_text().strip() if status.exists() else "0"
        if rc != "0" and not suite.failed:
            suite.failed.append(f"exited with status {rc}")
        suites.append(suite)
    if args.fail:
        extra = Suite("vm")
        extra.failed.extend(args.fail)
        suites.append(extra)

    print("=" * 72)
    for s in suites:
        print(f"{s.name}: {s.passed} passed, {len(s.failed)} failed, {s.skipped} skipped")
        for f in s.failed:
            print(f"    FAILED: {f}")
    passed = sum(s.passed for s in suites)
    failed = sum(len(s.failed) for s in suites)
    skipped = sum(s.skipped for s in suites)
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
