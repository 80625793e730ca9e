// A value or a Linux errno: what stack functions return. Only shim/ turns it
// into -1 + errno. (std::expected is C++23; this is the small subset we use.)
#pragma once
#include <cassert>
#include <utility>

namespace dshim {

template <class T>
class [[nodiscard]] result {
public:
    result(T v) : _v(std::move(v)), _err(0) {}  // NOLINT: implicit on purpose
    static result error(int err) { assert(err > 0); result r; r._err = err; return r; }

    bool ok() const { return _err == 0; }
    explicit operator bool() const { return ok(); }
    int err() const { return _err; }          // positive errno, 0 when ok
    T& value() { assert(ok()); return _v; }
    const T& value() const { assert(ok()); return _v; }
    T* operator->() { return &value(); }
    T& operator*() { return value(); }

private:
    result() = default;
    T _v{};
    int _err = 0;
};

}  // namespace dshim
