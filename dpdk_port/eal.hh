// EAL start-up and shut-down inside someone else's process (architecture.md
// §7): argument building, rte_eal_init on a helper thread that blocks all
// signals (EAL's threads inherit that mask) with the caller's affinity,
// signal mask and getopt state preserved, and removal of the runtime
// directory at the end.
#pragma once
#include <string>
#include <vector>

struct dshim_port_config;

namespace dshim::dpdk {

// The EAL argument vector for cfg ("dshim" first). false, with err naming
// the offending setting, on a bad configuration. is_pci tells whether the
// device is a PCI address (then --no-pci is left out).
bool build_eal_args(const dshim_port_config& cfg, std::vector<std::string>& args, bool& is_pci, std::string& err);

// Runs fn(arg) on a new thread that first calls thread_init (when set) and
// has every signal blocked; the caller's CPU affinity, signal mask and
// getopt globals (optind, opterr, optopt, optarg) are saved before and
// restored after. Returns fn's result, or -errno when the thread could not run.
int run_isolated(void (*thread_init)(), int (*fn)(void*), void* arg) noexcept;

class eal_session {
public:
    // rte_eal_init(args); 0 or -errno with err. Call once per process.
    int init(const std::vector<std::string>& args, std::string& err);
    // rte_eal_cleanup() and removal of the runtime directory. Also removes
    // the directory a failed init left behind.
    void cleanup() noexcept;
    bool up() const noexcept { return _up; }
    // Whether rte_eal_init was ever called (it cannot be called again).
    bool tried() const noexcept { return _tried; }
    const std::string& runtime_dir() const noexcept { return _runtime_dir; }

private:
    std::vector<std::string> _args;   // EAL keeps pointers into argv
    std::vector<char*> _argv;
    std::string _runtime_dir;
    bool _up = false;
    bool _tried = false;
};

// Removes dir and everything under it (no symlinks followed).
void remove_tree(const std::string& dir) noexcept;

}  // namespace dshim::dpdk
