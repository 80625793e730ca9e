// Names for wire_error values, for logs and test messages. The parsers
// themselves never log (wire/ is a stateless leaf); the protocol layer maps a
// wire_error to its own drop_reason counter.
#include "wire/bytes.hh"

namespace dshim::wire {

const char* wire_error_name(wire_error e) noexcept {
    switch (e) {
    case wire_error::none:
        return "none";
    case wire_error::truncated:
        return "truncated";
    case wire_error::bad_version:
        return "bad_version";
    case wire_error::bad_header_len:
        return "bad_header_len";
    case wire_error::bad_total_len:
        return "bad_total_len";
    case wire_error::bad_checksum:
        return "bad_checksum";
    case wire_error::bad_option:
        return "bad_option";
    case wire_error::unsupported:
        return "unsupported";
    }
    return "unknown";
}

}  // namespace dshim::wire
