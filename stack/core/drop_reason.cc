// Names of drop reasons for counters output.
#include "core/drop_reason.hh"

namespace dshim {

const char* drop_reason_name(drop_reason r) noexcept {
    switch (r) {
#define X(name, text) case drop_reason::name: return #name;
        DSHIM_DROP_REASONS(X)
#undef X
    case drop_reason::count_: break;
    }
    return "unknown";
}

const char* drop_reason_text(drop_reason r) noexcept {
    switch (r) {
#define X(name, text) case drop_reason::name: return text;
        DSHIM_DROP_REASONS(X)
#undef X
    case drop_reason::count_: break;
    }
    return "unknown";
}

}  // namespace dshim
