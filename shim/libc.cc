// dlsym(RTLD_NEXT) resolution of the real libc functions (see libc.hh).
#include "shim/libc.hh"

#include <dlfcn.h>

namespace dshim::shim {

libc_table libc;

void libc_resolve() noexcept {
    static bool done = false;
    if (done) {
        return;
    }
#define X(ret, name, params, args) libc.name = reinterpret_cast<ret(*) params>(dlsym(RTLD_NEXT, #name));
    DSHIM_LIBC_FUNCS(X)
#undef X
    done = true;
}

}  // namespace dshim::shim
