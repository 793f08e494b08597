/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libksmpart version of these headers (CMakeLists.txt checks it against the
 * project version). The version of the library loaded is ksmpart_version(). */
#ifndef KSMPART_VERSION_H
#define KSMPART_VERSION_H

#define KSMPART_VERSION_MAJOR 0
#define KSMPART_VERSION_MINOR 1
#define KSMPART_VERSION_PATCH 0
#define KSMPART_VERSION_STRING "0.1.0"
/* True if the headers are at least version MAJOR.MINOR. */
#define KSMPART_CHECK_VERSION(major, minor)                                     \
	(KSMPART_VERSION_MAJOR > (major) ||                                      \
	 (KSMPART_VERSION_MAJOR == (major) && KSMPART_VERSION_MINOR >= (minor)))

#endif /* KSMPART_VERSION_H */
