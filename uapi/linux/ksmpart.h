/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * ksmpart: partitioned, synchronous KSM.
 *
 * The user-space ABI of the ksm_open/ksm_merge/ksm_unmerge/ksm_leave system
 * calls; see docs/abi.md. Shared verbatim by the kernel (include/uapi/linux/)
 * and by user space.
 */
#ifndef _UAPI_LINUX_KSMPART_H
#define _UAPI_LINUX_KSMPART_H

/*
 * System call numbers: the next free ones after mseal (462) in both the x86_64
 * and the generic table. Provisional until upstream assigns numbers; this is
 * the only place they are written down.
 */
#define __NR_ksm_open		463
#define __NR_ksm_merge		464
#define __NR_ksm_unmerge	465
#define __NR_ksm_leave		466

#endif /* _UAPI_LINUX_KSMPART_H */
