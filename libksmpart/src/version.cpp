// SPDX-License-Identifier: LGPL-2.1-or-later
#include "ksmpart/ksmpart.hpp"

namespace ksmpart {

std::string_view version() noexcept
{
	return KSMPART_VERSION;
}

} // namespace ksmpart
