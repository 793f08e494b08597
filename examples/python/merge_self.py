#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# libksmpart from Python through ctypes (the C API is the library's stable
# binary interface): allocate 64 pages of which 32 are identical, merge this
# process in an anonymous partition, print the report and check the effect
# in /proc/self/ksm_stat. Prints OK on success.
#   KSMPART_LIB=/usr/local/lib/libksmpart.so.0 python3 merge_self.py
import ctypes
import ctypes.util
import mmap
import os
import sys

lib = ctypes.CDLL(os.environ.get("KSMPART_LIB") or ctypes.util.find_library("ksmpart")
                  or "libksmpart.so.0", use_errno=True)


class Iovec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class MergeReport(ctypes.Structure):  # struct ksmpart_merge_report
    _fields_ = [("size", ctypes.c_uint32), ("flags", ctypes.c_uint32),
                ("error", ctypes.c_int32), ("calls", ctypes.c_uint32)] + \
               [(n, ctypes.c_uint64) for n in (
                   "bytes_requested", "bytes_processed", "pages_scanned", "pages_merged",
                   "pages_already_shared", "zero_pages_merged", "pages_unshared",
                   "pages_failed", "pages_absent", "pages_skipped")]


PIDFD_SELF = -10000
lib.ksmpart_last_error.restype = ctypes.c_char_p
lib.ksmpart_version.restype = ctypes.c_char_p
lib.ksmpart_open_anonymous.argtypes = [ctypes.c_uint, ctypes.POINTER(ctypes.c_void_p)]
lib.ksmpart_merge.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(Iovec),
                              ctypes.c_size_t, ctypes.POINTER(MergeReport)]
lib.ksmpart_close.argtypes = [ctypes.c_void_p]


def fail(what):
    print(f"{what}: {lib.ksmpart_last_error().decode()}", file=sys.stderr)
    sys.exit(1)


def merging_pages():
    with open("/proc/self/ksm_stat") as f:
        for line in f:
            key, _, value = line.partition(" ")
            if key == "ksm_merging_pages":
                return int(value)
    return 0


page = mmap.PAGESIZE
buf = mmap.mmap(-1, 64 * page, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
for i in range(64):
    fill = b"\x5a" * page if i < 32 else os.urandom(page)
    buf[i * page:(i + 1) * page] = fill
base = ctypes.addressof(ctypes.c_char.from_buffer(buf))

p = ctypes.c_void_p()
if lib.ksmpart_open_anonymous(0, ctypes.byref(p)) < 0:
    fail("ksmpart_open_anonymous")
rep = MergeReport(size=ctypes.sizeof(MergeReport))
iov = Iovec(base, 64 * page)
if lib.ksmpart_merge(p, PIDFD_SELF, ctypes.byref(iov), 1, ctypes.byref(rep)) < 0:
    fail("ksmpart_merge")
print(f"libksmpart {lib.ksmpart_version().decode()}: scanned={rep.pages_scanned} "
      f"merged={rep.pages_merged} unshared={rep.pages_unshared}")
# 32 identical pages: one KSM page and 31 merged onto it.
ok = rep.pages_scanned == 64 and rep.pages_merged == 31 and merging_pages() == 32
lib.ksmpart_leave(p, PIDFD_SELF)
lib.ksmpart_close(p)
del base
buf.close()
print("OK" if ok else "FAILED")
sys.exit(0 if ok else 1)
