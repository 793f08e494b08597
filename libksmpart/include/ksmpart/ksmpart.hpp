// SPDX-License-Identifier: LGPL-2.1-or-later
// libksmpart: C++ interface to ksmpart partitions.
#pragma once

#include <string_view>

namespace ksmpart {

/// The library's version, "MAJOR.MINOR.PATCH".
std::string_view version() noexcept;

} // namespace ksmpart
