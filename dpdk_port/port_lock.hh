// One process per port (architecture.md §4): an flock()ed file per port,
// keyed by what actually names the port (tap interface + network namespace,
// memif socket + role + id, PCI address), so a second process attaching the
// same port fails loudly instead of stealing frames.
#pragma once
#include <string>

namespace dshim::dpdk {

// The lock key of a DPDK device string, already safe as a file name.
std::string port_lock_key(const std::string& device);

class port_lock {
public:
    port_lock() = default;
    port_lock(const port_lock&) = delete;
    port_lock& operator=(const port_lock&) = delete;
    ~port_lock() { release(); }

    // Takes the lock for device in dir (nullptr: /run/dshim, else /tmp).
    // Returns 0 or -errno with a message in err (-EBUSY: held by another
    // process, whose pid the message names).
    int acquire(const char* dir, const std::string& device, std::string& err);
    // Unlinks the file and drops the lock.
    void release() noexcept;
    // The process ends without a detach (_exit): unlinks the file while the
    // lock is still held; the kernel drops the lock when it closes the fd.
    // Async-signal-safe (unlink, and a clear that frees nothing).
    void unlink_held() noexcept;
    // After fork() in the child: closes the child's fd only (the parent keeps
    // the lock; flock locks belong to the shared open file description).
    void forget() noexcept;
    const std::string& path() const noexcept { return _path; }

private:
    int _fd = -1;
    std::string _path;
};

}  // namespace dshim::dpdk
