// EAL arguments, isolated initialisation and clean shut-down.
#include "eal.hh"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ftw.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_log.h>
#include <rte_pci.h>

#include "dpdk_port.hh"

namespace dshim::dpdk {
namespace {

// "0,1,4-7" for the CPUs in set, as EAL's --lcores cpuset syntax wants.
std::string cpu_list(const cpu_set_t& set) {
    std::string out;
    int cpu = 0;
    while (cpu < CPU_SETSIZE) {
        if (!CPU_ISSET(cpu, &set)) {
            ++cpu;
            continue;
        }
        int last = cpu;
        while (last + 1 < CPU_SETSIZE && CPU_ISSET(last + 1, &set)) {
            ++last;
        }
        if (!out.empty()) {
            out += ',';
        }
        out += std::to_string(cpu);
        if (last > cpu) {
            out += '-' + std::to_string(last);
        }
        cpu = last + 1;
    }
    return out;
}

bool parse_mac_string(const char* s) {
    unsigned v[6];
    char tail;
    return std::sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) == 6;
}

}  // namespace

bool build_eal_args(const dshim_port_config& cfg, std::vector<std::string>& args, bool& is_pci, std::string& err) {
    args.clear();
    if (cfg.device == nullptr || *cfg.device == '\0') {
        err = "no DPDK device given (DSHIM_PORT)";
        return false;
    }
    std::string device = cfg.device;
    if (device.find_first_of(" \t\n") != std::string::npos) {
        err = "DPDK device '" + device + "' contains blanks (DSHIM_PORT)";
        return false;
    }
    std::string name = device.substr(0, device.find(','));
    struct rte_pci_addr pci {};
    is_pci = rte_pci_addr_parse(name.c_str(), &pci) == 0;
    if (!is_pci && name.rfind("net_", 0) != 0) {
        err = "DPDK device '" + device + "' is neither a PCI address nor a net_* vdev (DSHIM_PORT)";
        return false;
    }
    if (cfg.mac != nullptr && *cfg.mac != '\0' && !parse_mac_string(cfg.mac)) {
        err = "bad MAC address '" + std::string(cfg.mac) + "' (DSHIM_MAC)";
        return false;
    }
    if (cfg.log_level < 1 || cfg.log_level > 8) {
        err = "DPDK log level must be 1..8";
        return false;
    }

    cpu_set_t set;
    CPU_ZERO(&set);
    if (pthread_getaffinity_np(pthread_self(), sizeof(set), &set) != 0 || CPU_COUNT(&set) == 0) {
        CPU_ZERO(&set);
        CPU_SET(0, &set);
    }

    args.emplace_back("dshim");
    // lcore 0 may run anywhere the caller may: EAL pins nothing narrower and
    // its control threads get the same set.
    args.emplace_back("--lcores=0@(" + cpu_list(set) + ")");
    args.emplace_back("--file-prefix=dshim" + std::to_string(getpid()));
    args.emplace_back("--no-shconf");
    args.emplace_back("--no-telemetry");
    args.emplace_back("--log-level=" + std::to_string(cfg.log_level));
    if (cfg.hugepages) {
        args.emplace_back("--huge-unlink");
    } else {
        args.emplace_back("--no-huge");
        args.emplace_back("-m");
        args.emplace_back(std::to_string(cfg.mem_mb ? cfg.mem_mb : 512));
    }
    if (is_pci) {
        args.emplace_back("-a");
        args.emplace_back(device);
    } else {
        args.emplace_back("--no-pci");
        std::string vdev = device;
        if (cfg.mac != nullptr && *cfg.mac != '\0' && vdev.find(",mac=") == std::string::npos) {
            vdev += ",mac=";
            vdev += cfg.mac;
        }
        args.emplace_back("--vdev=" + vdev);
    }
    if (cfg.eal_args != nullptr) {
        std::string extra = cfg.eal_args;
        size_t i = 0;
        while (i < extra.size()) {
            size_t j = extra.find_first_of(" \t\n", i);
            if (j == std::string::npos) {
                j = extra.size();
            }
            if (j > i) {
                args.emplace_back(extra.substr(i, j - i));
            }
            i = j + 1;
        }
    }
    return true;
}

namespace {

struct isolated_job {
    void (*thread_init)();
    int (*fn)(void*);
    void* arg;
    int result;
};

void* isolated_main(void* p) {
    auto* job = static_cast<isolated_job*>(p);
    if (job->thread_init != nullptr) {
        job->thread_init();
    }
    job->result = job->fn(job->arg);
    return nullptr;
}

}  // namespace

int run_isolated(void (*thread_init)(), int (*fn)(void*), void* arg) noexcept {
    cpu_set_t affinity;
    bool have_affinity = pthread_getaffinity_np(pthread_self(), sizeof(affinity), &affinity) == 0;
    int saved_optind = optind, saved_opterr = opterr, saved_optopt = optopt;
    char* saved_optarg = optarg;

    // Threads inherit the creator's mask: the helper, and every thread EAL
    // or a PMD starts from it, then block all signals, so Ctrl-C and friends
    // reach the application's threads only.
    sigset_t all, saved_mask;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved_mask);

    isolated_job job{thread_init, fn, arg, -EINVAL};
    pthread_t tid;
    int rc = pthread_create(&tid, nullptr, isolated_main, &job);
    pthread_sigmask(SIG_SETMASK, &saved_mask, nullptr);
    if (rc == 0) {
        pthread_setname_np(tid, "dshim-attach");
        pthread_join(tid, nullptr);
    }

    optind = saved_optind;
    opterr = saved_opterr;
    optopt = saved_optopt;
    optarg = saved_optarg;
    if (have_affinity) {
        pthread_setaffinity_np(pthread_self(), sizeof(affinity), &affinity);
    }
    return rc == 0 ? job.result : -rc;
}

// EAL's TSC calibration (get_tsc_freq, used where the CPU reports no TSC
// frequency, as on this AMD VM) counts rdtsc cycles across a 100 ms
// nanosleep timed with CLOCK_MONOTONIC_RAW: the sleep's length does not
// enter the result, only its precision, and the result is rounded to 10 MHz.
// 10 ms measure the same figure (checked against the 100 ms one here) and
// take 90 ms off every program's start-up. The module is linked with
// --wrap=nanosleep, so this sees DPDK's calls only, and acts only while
// rte_eal_init runs on the attach thread.
thread_local bool t_in_eal_init = false;

}  // namespace dshim::dpdk

extern "C" int __real_nanosleep(const timespec* req, timespec* rem);
extern "C" int __wrap_nanosleep(const timespec* req, timespec* rem) {
    if (dshim::dpdk::t_in_eal_init && req != nullptr && req->tv_sec == 0 && req->tv_nsec == 100000000) {
        const timespec shorter{0, 10000000};
        return __real_nanosleep(&shorter, rem);
    }
    return __real_nanosleep(req, rem);
}

namespace dshim::dpdk {

int eal_session::init(const std::vector<std::string>& args, std::string& err) {
    _args = args;
    _argv.clear();
    for (std::string& s : _args) {
        _argv.push_back(s.data());
    }
    _argv.push_back(nullptr);
    int argc = int(_argv.size() - 1);
    _tried = true;
    t_in_eal_init = true;
    int rc = rte_eal_init(argc, _argv.data());
    t_in_eal_init = false;
    const char* rd = rte_eal_get_runtime_dir();
    if (rd != nullptr) {
        _runtime_dir = rd;
    }
    if (rc < 0) {
        int e = rte_errno ? rte_errno : EINVAL;
        std::string cmd;
        for (const std::string& a : _args) {
            cmd += (cmd.empty() ? "" : " ") + a;
        }
        err = std::string("rte_eal_init failed: ") + rte_strerror(e) + " (EAL args: " + cmd + ")";
        if (e == EALREADY) {
            err = "DPDK is already initialised in this process (one attach per process)";
        }
        return -e;
    }
    _up = true;
    return 0;
}

// No rte_eal_cleanup(): detach happens only at process exit, and in DPDK
// 22.11 rte_eal_cleanup() unmaps EAL memory while the eal-intr-thread keeps
// running; a PMD interrupt source firing then (a memif peer closing its
// control channel) made that thread fault on the unmapped handles. The
// process is exiting: its memory goes with it, hugepage files are unlinked
// at map time (--huge-unlink), the port is already stopped and closed, and
// the runtime directory is removed below.
void eal_session::cleanup() noexcept {
    _up = false;
    if (!_runtime_dir.empty()) {
        remove_tree(_runtime_dir);
        _runtime_dir.clear();
    }
}

void remove_tree(const std::string& dir) noexcept {
    if (dir.empty() || dir == "/") {
        return;
    }
    nftw(
        dir.c_str(),
        [](const char* path, const struct stat*, int type, struct FTW*) -> int {
            if (type == FTW_DP || type == FTW_D) {
                rmdir(path);
            } else {
                unlink(path);
            }
            return 0;
        },
        8, FTW_DEPTH | FTW_PHYS);
}

}  // namespace dshim::dpdk
