// One process per port: lock file naming and flock() handling.
#include "port_lock.hh"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace dshim::dpdk {
namespace {

// Splits "name,k=v,k2=v2" into the name and the value of key (empty if absent).
std::string devarg(const std::string& device, const char* key) {
    size_t klen = std::strlen(key);
    size_t pos = device.find(',');
    while (pos != std::string::npos) {
        size_t start = pos + 1;
        size_t end = device.find(',', start);
        std::string item = device.substr(start, end == std::string::npos ? std::string::npos : end - start);
        if (item.size() > klen && item.compare(0, klen, key) == 0 && item[klen] == '=') {
            return item.substr(klen + 1);
        }
        pos = end;
    }
    return {};
}

// Interface names and abstract sockets are per network namespace.
std::string netns_id() {
    char buf[64];
    ssize_t n = readlink("/proc/self/ns/net", buf, sizeof(buf) - 1);
    if (n <= 0) {
        return "nons";
    }
    buf[n] = '\0';
    // "net:[4026531840]" -> "4026531840"
    std::string s(buf);
    size_t a = s.find('[');
    size_t b = s.find(']');
    if (a != std::string::npos && b != std::string::npos && b > a) {
        return s.substr(a + 1, b - a - 1);
    }
    return s;
}

std::string sanitize(const std::string& s) {
    std::string out;
    for (char c : s) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
                  c == '_';
        out.push_back(ok ? c : '_');
    }
    if (out.size() > 200) {
        out.resize(200);
    }
    return out;
}

bool usable_dir(const char* dir) {
    struct stat st {};
    if (stat(dir, &st) != 0) {
        // World-writable and sticky like /tmp, so every user's dshim shares it.
        if (mkdir(dir, 01777) != 0 && errno != EEXIST) {
            return false;
        }
        chmod(dir, 01777);
        if (stat(dir, &st) != 0) {
            return false;
        }
    }
    return S_ISDIR(st.st_mode) && access(dir, W_OK | X_OK) == 0;
}

}  // namespace

std::string port_lock_key(const std::string& device) {
    std::string name = device.substr(0, device.find(','));
    if (name.rfind("net_tap", 0) == 0) {
        std::string iface = devarg(device, "iface");
        return sanitize("tap-" + netns_id() + "-" + (iface.empty() ? name : iface));
    }
    if (name.rfind("net_memif", 0) == 0) {
        std::string sock = devarg(device, "socket");
        std::string role = devarg(device, "role");
        std::string id = devarg(device, "id");
        std::string abstract = devarg(device, "socket-abstract");
        bool is_abstract = abstract.empty() || abstract == "yes";
        return sanitize("memif-" + (is_abstract ? netns_id() : std::string("fs")) + "-" +
                        (sock.empty() ? "/run/memif.sock" : sock) + "-" + (role.empty() ? "client" : role) + "-" +
                        (id.empty() ? "0" : id));
    }
    bool pci = name.size() >= 7 && name.find(':') != std::string::npos && name.find('.') != std::string::npos;
    if (pci) {
        std::string addr = name.size() < 12 ? "0000:" + name : name;
        for (char& c : addr) {
            if (c >= 'A' && c <= 'F') {
                c = char(c - 'A' + 'a');
            }
        }
        return sanitize("pci-" + addr);
    }
    return sanitize("dev-" + netns_id() + "-" + name);
}

int port_lock::acquire(const char* dir, const std::string& device, std::string& err) {
    std::string d;
    if (dir != nullptr && *dir != '\0') {
        if (!usable_dir(dir)) {
            err = "lock directory " + std::string(dir) + " is not usable: " + std::strerror(errno);
            return -EACCES;
        }
        d = dir;
    } else {
        d = usable_dir("/run/dshim") ? "/run/dshim" : "/tmp";
    }
    std::string path = d + "/dshim-port-" + port_lock_key(device) + ".lock";
    // Retry when the file was unlinked by its previous owner between our open
    // and our flock (we would hold a lock on a name nobody else can see).
    for (int attempt = 0; attempt < 8; ++attempt) {
        int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0) {
            int e = errno;
            err = "cannot open lock file " + path + ": " + std::strerror(e);
            return -e;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            char pidbuf[32] = {};
            ssize_t n = pread(fd, pidbuf, sizeof(pidbuf) - 1, 0);
            close(fd);
            if (e == EWOULDBLOCK) {
                std::string pid = n > 0 ? std::string(pidbuf, size_t(n)) : std::string("?");
                while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) {
                    pid.pop_back();
                }
                err = "port '" + device + "' is already in use by process " + pid + " (lock " + path +
                      "): one process per port";
                return -EBUSY;
            }
            err = "cannot lock " + path + ": " + std::strerror(e);
            return -e;
        }
        struct stat held {}, named {};
        if (fstat(fd, &held) != 0 || stat(path.c_str(), &named) != 0 || held.st_ino != named.st_ino ||
            held.st_dev != named.st_dev) {
            close(fd);
            continue;
        }
        char pidbuf[32];
        int len = std::snprintf(pidbuf, sizeof(pidbuf), "%d\n", int(getpid()));
        if (ftruncate(fd, 0) != 0 || pwrite(fd, pidbuf, size_t(len), 0) != len) {
            // The lock is what matters; the pid is only for the message.
        }
        _fd = fd;
        _path = path;
        return 0;
    }
    err = "cannot lock " + path + ": it keeps being replaced";
    return -EAGAIN;
}

void port_lock::release() noexcept {
    if (_fd >= 0) {
        // Unlink while still holding the lock: a process that opened the old
        // file sees the inode mismatch above and retries.
        if (!_path.empty()) {
            unlink(_path.c_str());
        }
        close(_fd);
        _fd = -1;
    }
}

void port_lock::unlink_held() noexcept {
    if (_fd >= 0 && !_path.empty()) {
        unlink(_path.c_str());
        _path.clear();   // a later release must not unlink a newer owner's file
    }
}

void port_lock::forget() noexcept {
    if (_fd >= 0) {
        close(_fd);
        _fd = -1;
    }
}

}  // namespace dshim::dpdk
