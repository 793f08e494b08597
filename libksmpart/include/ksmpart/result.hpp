// SPDX-License-Identifier: LGPL-2.1-or-later
// Result<T>: a value or an Error (std::expected is not in C++20).
#pragma once

#include "ksmpart/error.hpp"

#include <utility>
#include <variant>

namespace ksmpart {

template <typename T> class [[nodiscard]] Result {
public:
	Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
	Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}

	bool ok() const noexcept { return v_.index() == 0; }
	explicit operator bool() const noexcept { return ok(); }

	/// The value; throws ksmpart::Exception if this holds an error.
	T &value() &
	{
		check();
		return std::get<0>(v_);
	}
	const T &value() const &
	{
		check();
		return std::get<0>(v_);
	}
	T &&value() &&
	{
		check();
		return std::get<0>(std::move(v_));
	}
	T *operator->() { return &value(); }
	const T *operator->() const { return &value(); }
	T &operator*() & { return value(); }
	const T &operator*() const & { return value(); }

	/// The error; a success Error (false) if this holds a value.
	const Error &error() const noexcept
	{
		static const Error none;
		return ok() ? none : std::get<1>(v_);
	}

private:
	void check() const
	{
		if (!ok())
			throw Exception(std::get<1>(v_));
	}
	std::variant<T, Error> v_;
};

template <> class [[nodiscard]] Result<void> {
public:
	Result() = default;
	Result(Error error) : error_(std::move(error)) {}

	bool ok() const noexcept { return !error_; }
	explicit operator bool() const noexcept { return ok(); }
	/// Throws ksmpart::Exception if this holds an error.
	void value() const
	{
		if (error_)
			throw Exception(error_);
	}
	const Error &error() const noexcept { return error_; }

private:
	Error error_;
};

} // namespace ksmpart
