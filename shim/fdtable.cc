// fd table (see fdtable.hh).
#include "shim/fdtable.hh"

#include <sys/mman.h>
#include <sys/resource.h>

#include "shim/runtime.hh"

namespace dshim::shim {

std::atomic<dfile*>* g_fdtab = nullptr;
int g_fdtab_size = 0;

void fdtable_init() {
    if (g_fdtab) {
        return;
    }
    rlimit rl{};
    int n = 65536;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY) {
        n = int(std::min<rlim_t>(std::max<rlim_t>(rl.rlim_max, 1024), 1u << 20));
    } else {
        n = 1 << 20;
    }
    // mmap: untouched pages cost nothing; no allocation through malloc in a
    // constructor that may run before the program's allocator is ready.
    void* mem = mmap(nullptr, sizeof(std::atomic<dfile*>) * size_t(n), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED) {
        return;
    }
    g_fdtab = static_cast<std::atomic<dfile*>*>(mem);
    g_fdtab_size = n;
}

int fd_limit() { return g_fdtab_size; }

dfile* fd_get(int fd) {
    if (fd < 0 || fd >= g_fdtab_size || !g_fdtab) {
        return nullptr;
    }
    dfile* f = g_fdtab[fd].load(std::memory_order_acquire);
    if (!f) {
        return nullptr;
    }
    // A concurrent close may drop the table's reference right now; taking
    // ours after the load is safe because release happens only after the
    // slot was cleared and the count reaches zero (the closer holds the
    // table's reference until then).
    f->refcnt.fetch_add(1, std::memory_order_acq_rel);
    if (g_fdtab[fd].load(std::memory_order_acquire) != f) {
        fd_put(f);
        return nullptr;
    }
    return f;
}

void fd_put(dfile* f) {
    if (f->refcnt.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        release_dfile(f);
    }
}

void fd_install(int fd, dfile* f) {
    if (fd < 0 || fd >= g_fdtab_size) {
        fd_put(f);
        return;
    }
    dfile* old = g_fdtab[fd].exchange(f, std::memory_order_acq_rel);
    if (old) {
        fd_put(old);
    }
}

dfile* fd_remove(int fd) {
    if (fd < 0 || fd >= g_fdtab_size || !g_fdtab) {
        return nullptr;
    }
    return g_fdtab[fd].exchange(nullptr, std::memory_order_acq_rel);
}

}  // namespace dshim::shim
