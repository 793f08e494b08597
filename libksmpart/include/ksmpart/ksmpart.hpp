// SPDX-License-Identifier: LGPL-2.1-or-later
// libksmpart: C++ interface to ksmpart partitions. Umbrella header.
#pragma once

#include "ksmpart/error.hpp"
#include "ksmpart/maps.hpp"
#include "ksmpart/partition.hpp"
#include "ksmpart/pidfd.hpp"
#include "ksmpart/ranges.hpp"
#include "ksmpart/result.hpp"
#include "ksmpart/syscall.hpp"

#include <string_view>

namespace ksmpart {

/// The library's version, "MAJOR.MINOR.PATCH".
std::string_view version() noexcept;

} // namespace ksmpart
