#!/usr/bin/python3
# scripts/bench's engine: runs the same unmodified programs over kernel
# sockets (loopback, and a veth pair between two namespaces) and over dshim
# (two dshim processes on net_memif), side by side in one run, server and
# client pinned to different cores, and writes a markdown table of figures
# and ratios plus PNG plots. Every namespace it makes is its own
# (dshim-bench-PID*) and removed at the end; addresses are 198.18.0.0/15.
import argparse
import fcntl
import glob
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PID = os.getpid()
NS = f"dshim-bench-{PID}"          # loopback runs and both memif processes
NSA, NSB = f"{NS}-a", f"{NS}-b"    # the veth pair's two ends
NST = f"{NS}-t"                    # net_tap for the start-up row
VETH_A, VETH_B = "198.18.2.1", "198.18.2.2"
MEMIF_SRV, MEMIF_CLI = "198.18.1.2", "198.18.1.3"
TAP_K, TAP_D = "198.18.0.1", "198.18.0.2"
SETUPS = ["lo", "veth", "memif"]
LABEL = {"lo": "kernel loopback", "veth": "kernel veth", "memif": "dshim memif"}


def log(msg):
    print(f"# {msg}", file=sys.stderr, flush=True)


def sh(cmd, check=True, **kw):
    return subprocess.run(cmd, shell=isinstance(cmd, str), check=check, **kw)


class Bench:
    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.build = os.path.abspath(args.build)
        self.work = tempfile.mkdtemp(prefix="dshim-bench.")
        os.chmod(self.work, 0o755)
        self.procs = []
        self.namespaces = []
        self.tap = ""
        self.results = {}
        self.seq = 0
        self.load0 = os.getloadavg()
        self.lib = f"{self.build}/shim/libdshim.so"
        self.dpdk_lib = f"{self.build}/dpdk_port/libdshim_dpdk.so"

    # ------------------------------------------------------------ plumbing
    def setup_net(self):
        for ns in (NS, NSA, NSB, NST):
            sh(["ip", "netns", "add", ns])
            self.namespaces.append(ns)
            sh(["ip", "-n", ns, "link", "set", "lo", "up"])
        sh(["ip", "link", "add", f"vb{PID}a"[:15], "netns", NSA, "type", "veth", "peer", "name",
            f"vb{PID}b"[:15], "netns", NSB])
        sh(["ip", "-n", NSA, "addr", "add", f"{VETH_A}/24", "dev", f"vb{PID}a"[:15]])
        sh(["ip", "-n", NSB, "addr", "add", f"{VETH_B}/24", "dev", f"vb{PID}b"[:15]])
        sh(["ip", "-n", NSA, "link", "set", f"vb{PID}a"[:15], "up"])
        sh(["ip", "-n", NSB, "link", "set", f"vb{PID}b"[:15], "up"])
        self.tap = f"bt{PID}"[:15]
        sh(["ip", "-n", NST, "tuntap", "add", "mode", "tap", "multi_queue", "name", self.tap])
        sh(["ip", "-n", NST, "addr", "add", f"{TAP_K}/24", "dev", self.tap])
        sh(["ip", "-n", NST, "link", "set", self.tap, "up"])

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        nsids = set()
        for ns in self.namespaces:
            try:
                nsids.add(str(os.stat(f"/run/netns/{ns}").st_ino))
            except OSError:
                pass
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
            subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
        self.remove_port_locks(nsids)
        if self.args.keep:
            log(f"kept {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)

    def remove_port_locks(self, nsids):
        """A dshim process stopped by a signal runs no exit code, so its port
        lock file stays. Removes the lock files of this run's own ports only
        (memif sockets in our work directory; our tap in one of our
        namespaces), each under a non-blocking flock as an attach takes it: a
        file still locked is in use."""
        work = re.sub(r"[^A-Za-z0-9._-]", "_", self.work)
        for path in glob.glob("/run/dshim/dshim-port-*.lock") + glob.glob("/tmp/dshim-port-*.lock"):
            name = os.path.basename(path)
            tap = re.fullmatch(r"dshim-port-tap-([0-9]+)-(.+)\.lock", name)
            ours = (name.startswith("dshim-port-memif-") and f"{work}_" in name) or \
                (tap is not None and self.tap != "" and tap.group(2) == self.tap and tap.group(1) in nsids)
            if not ours:
                continue
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                os.unlink(path)   # while locked: an opener re-checks the inode
            except OSError:
                pass
            finally:
                os.close(fd)

    def dshim_env(self, port, ip, mac):
        env = {"LD_PRELOAD": self.lib, "DSHIM_DPDK_LIB": self.dpdk_lib, "DSHIM_PORT": port,
               "DSHIM_IP": ip, "DSHIM_MAC": mac, "DSHIM_EXIT_LINGER_S": "1"}
        if self.args.hugepages:
            env["DSHIM_HUGEPAGES"] = "1"
        return [f"{k}={v}" for k, v in env.items()]

    def prefix(self, setup, side, memif_sock=None):
        """The command prefix running one side (server on core 0, client on
        core 1) of a setup, and the server's address."""
        core = "0" if side == "server" else "1"
        if setup == "lo":
            return ["ip", "netns", "exec", NS, "taskset", "-c", core], "127.0.0.1"
        if setup == "veth":
            ns = NSA if side == "server" else NSB
            return ["ip", "netns", "exec", ns, "taskset", "-c", core], VETH_A
        role = "server" if side == "server" else "client"
        ip = MEMIF_SRV if side == "server" else MEMIF_CLI
        mac = "02:d5:00:00:01:02" if side == "server" else "02:d5:00:00:01:03"
        port = f"net_memif0,role={role},socket={memif_sock}"
        return (["ip", "netns", "exec", NS, "env"] + self.dshim_env(port, f"{ip}/24", mac) +
                ["taskset", "-c", core], MEMIF_SRV)

    def start(self, cmd, name):
        out = open(f"{self.work}/{name}.log", "w")
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        self.procs.append(p)
        return p

    def wait_listen(self, setup, proc, port, timeout=15.0):
        ns = NSA if setup == "veth" else NS
        end = time.time() + timeout
        while time.time() < end:
            if proc.poll() is not None:
                return False
            if setup == "memif":
                st = subprocess.run([f"{REPO}/scripts/dshim", "stat", str(proc.pid)], capture_output=True,
                                    text=True).stdout
                if re.search(rf"LISTEN +[0-9.]+:{port} ", st):
                    return True
            else:
                ss = subprocess.run(["ip", "netns", "exec", ns, "ss", "-Hltn", f"sport = :{port}"],
                                    capture_output=True, text=True).stdout
                if ss.strip():
                    return True
            time.sleep(0.05)
        return False

    def stop(self, proc, sig=signal.SIGTERM, timeout=10):
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def pair(self, setup, name, server_cmd, client_cmd, port, timeout=120):
        """Starts server_cmd(addr), waits until it listens, runs
        client_cmd(addr) to the end; returns the client's stdout."""
        self.seq += 1
        sock = f"{self.work}/memif{self.seq}.sock"
        sp, addr = self.prefix(setup, "server", sock)
        cp, _ = self.prefix(setup, "client", sock)
        srv = self.start(sp + server_cmd(addr), f"{name}-{setup}-server")
        if not self.wait_listen(setup, srv, port):
            self.stop(srv)
            log(f"{name} on {setup}: the server did not come up (see {self.work}/{name}-{setup}-server.log)")
            return None
        try:
            r = subprocess.run(cp + client_cmd(addr), capture_output=True, text=True, timeout=timeout)
            out = r.stdout + r.stderr
            if r.returncode != 0:
                log(f"{name} on {setup}: client exit {r.returncode}: {out[-400:]}")
        except subprocess.TimeoutExpired:
            out = None
            log(f"{name} on {setup}: client timed out")
        self.stop(srv)
        return out

    # ------------------------------------------------------------ workloads
    def floor(self):
        sock = f"{self.work}/floor.sock"
        exe = f"{self.build}/dpdk_port/memif_pingpong"
        count = "100000" if self.quick else "1000000"
        pong = self.start(["taskset", "-c", "0", exe, "--lib", self.dpdk_lib, "--role", "pong", "--port",
                           f"net_memif0,role=server,socket={sock},mac=02:d5:00:00:09:01", "--seconds", "60"],
                          "floor-pong")
        time.sleep(1.0)
        r = subprocess.run(["taskset", "-c", "1", exe, "--lib", self.dpdk_lib, "--role", "ping", "--count", count,
                            "--seconds", "60",
                            "--port", f"net_memif0,role=client,socket={sock},mac=02:d5:00:00:09:02"],
                           capture_output=True, text=True, timeout=120)
        self.stop(pong)
        m = re.search(r"p50=(\d+) p99=(\d+) p999=(\d+) avg=(\d+)", r.stdout)
        if not m:
            log(f"memif floor failed: {r.stdout} {r.stderr}")
            return
        self.results["floor"] = {k: int(v) / 1000.0 for k, v in zip(["p50", "p99", "p999", "avg"], m.groups())}
        log(f"raw memif floor half-RTT: {self.results['floor']}")

    def sockperf(self):
        secs = "2" if self.quick else "10"
        for size in (64, 1024):
            res = {}
            for setup in SETUPS:
                out = self.pair(setup, f"sockperf{size}",
                                lambda a: ["sockperf", "server", "--tcp", "-i", a, "-p", "11111"],
                                lambda a: ["sockperf", "ping-pong", "--tcp", "-i", a, "-p", "11111", "-t", secs,
                                           "-m", str(size)], 11111)
                if not out:
                    continue
                pct = {float(p): float(v) for p, v in re.findall(r"percentile\s+([\d.]+)\s+=\s+([\d.]+)", out)}
                avg = re.search(r"avg-latency=([\d.]+)", out)
                if pct:
                    res[setup] = {"p50": pct.get(50.0), "p99": pct.get(99.0), "p999": pct.get(99.9),
                                  "avg": float(avg.group(1)) if avg else None, "pct": pct}
                    log(f"sockperf {size} B {setup}: p50 {pct.get(50.0)} p99 {pct.get(99.0)} "
                        f"p99.9 {pct.get(99.9)} us")
            self.results[f"sockperf{size}"] = res

    def iperf3(self):
        secs = "2" if self.quick else "8"
        cases = [(1, False), (1, True)] if self.quick else [(1, False), (1, True), (4, False), (4, True)]
        for streams, reverse in cases:
            key = f"iperf3-P{streams}{'-R' if reverse else ''}"
            res = {}
            for setup in SETUPS:
                out = self.pair(setup, key,
                                lambda a: ["iperf3", "-s", "-1", "-B", a, "-p", "5201"],
                                lambda a: ["iperf3", "-c", a, "-p", "5201", "-t", secs, "-P", str(streams), "-J"] +
                                (["-R"] if reverse else []), 5201)
                try:
                    j = json.loads(out[out.index("{"):]) if out else None
                    bps = j["end"]["sum_received"]["bits_per_second"]
                    res[setup] = bps / 1e9
                    log(f"{key} {setup}: {bps / 1e9:.2f} Gbit/s")
                except (ValueError, KeyError, TypeError):
                    log(f"{key} {setup}: no result")
            self.results[key] = res

    def redis(self):
        n = "20000" if self.quick else "200000"
        for conns in (1, 50):
            res = {}
            for setup in SETUPS:
                out = self.pair(setup, f"redis-c{conns}",
                                lambda a: ["redis-server", "--port", "6379", "--bind", a, "--save", "",
                                           "--appendonly", "no", "--protected-mode", "no", "--dir", self.work],
                                lambda a: ["redis-benchmark", "-h", a, "-p", "6379", "-n", n, "-c", str(conns),
                                           "-t", "set,get", "--csv"], 6379)
                vals = dict(re.findall(r'"(SET|GET)","([\d.]+)"', out or ""))
                if vals:
                    res[setup] = {k: float(v) for k, v in vals.items()}
                    log(f"redis -c {conns} {setup}: {res[setup]}")
            self.results[f"redis-c{conns}"] = res

    def nginx(self):
        os.makedirs(f"{self.work}/www", exist_ok=True)
        with open(f"{self.work}/www/1k.bin", "wb") as f:
            f.write(os.urandom(1024))
        n = "5000" if self.quick else "50000"
        for keepalive in (False, True):
            key = "nginx-keepalive" if keepalive else "nginx-close"
            res = {}
            for setup in SETUPS:
                conf = f"{self.work}/nginx-{setup}.conf"

                def server(a, conf=conf, setup=setup):
                    os.makedirs(f"{self.work}/ngx-{setup}", exist_ok=True)
                    with open(conf, "w") as f:
                        f.write(f"""master_process off; daemon off; worker_processes 1;
error_log {self.work}/ngx-{setup}/error.log; pid {self.work}/ngx-{setup}/nginx.pid;
events {{ worker_connections 4096; }}
http {{ access_log off; sendfile on; keepalive_requests 1000000;
  client_body_temp_path {self.work}/ngx-{setup}/body; proxy_temp_path {self.work}/ngx-{setup}/proxy;
  fastcgi_temp_path {self.work}/ngx-{setup}/fcgi; uwsgi_temp_path {self.work}/ngx-{setup}/uwsgi;
  scgi_temp_path {self.work}/ngx-{setup}/scgi;
  server {{ listen {a}:8080 backlog=4096; root {self.work}/www; }} }}
""")
                    return ["nginx", "-p", f"{self.work}/ngx-{setup}", "-c", conf, "-e",
                            f"{self.work}/ngx-{setup}/error.log"]

                out = self.pair(setup, key, server,
                                lambda a: ["ab", "-q", "-n", n, "-c", "10"] + (["-k"] if keepalive else []) +
                                [f"http://{a}:8080/1k.bin"], 8080)
                m = re.search(r"Requests per second:\s+([\d.]+)", out or "")
                failed = re.search(r"Failed requests:\s+(\d+)", out or "")
                if m and failed and failed.group(1) == "0":
                    res[setup] = float(m.group(1))
                    log(f"{key} {setup}: {m.group(1)} requests/s")
                elif out:
                    log(f"{key} {setup}: failed requests or no figure: {out[-300:]}")
            self.results[key] = res

    def startup(self):
        """Wall time of curl fetching 1 KiB from a kernel http.server over
        net_tap, preloaded vs not (median of several runs)."""
        os.makedirs(f"{self.work}/www", exist_ok=True)
        with open(f"{self.work}/www/1k.bin", "wb") as f:
            f.write(os.urandom(1024))
        srv = self.start(["ip", "netns", "exec", NST, "/usr/bin/python3", "-m", "http.server", "8080", "--bind",
                          TAP_K, "--directory", f"{self.work}/www"], "startup-http")
        time.sleep(1.0)
        runs = 5 if self.quick else 15
        url = f"http://{TAP_K}:8080/1k.bin"
        times = {"kernel": [], "dshim": []}
        env = self.dshim_env(f"net_tap0,iface={self.tap}", f"{TAP_D}/24", "02:d5:00:00:00:02")
        # The kernel side needs dshim's address to reach the tap: curl runs in
        # the same namespace either way; without dshim it fetches over
        # loopback-free kernel routing to its own address (no tap involved),
        # which is the program's own start-up cost.
        for i in range(runs):
            for kind in ("kernel", "dshim"):
                cmd = ["ip", "netns", "exec", NST] + (["env"] + env if kind == "dshim" else []) + \
                      ["curl", "-s", "-o", "/dev/null", url]
                t0 = time.monotonic()
                r = subprocess.run(cmd, capture_output=True, timeout=30)
                t = time.monotonic() - t0
                if r.returncode == 0:
                    times[kind].append(t * 1000)
        self.stop(srv)
        if times["kernel"] and times["dshim"]:
            k, d = statistics.median(times["kernel"]), statistics.median(times["dshim"])
            self.results["startup"] = {"kernel_ms": k, "dshim_ms": d, "extra_ms": d - k}
            log(f"start-up: kernel {k:.1f} ms, dshim {d:.1f} ms")

    def memory(self):
        n = 2000 if self.quick else 10000
        exe = f"{self.build}/tests/bench/conn_hold"
        res = {}
        warm = 4000
        for setup in ("lo", "memif"):
            sync = f"{self.work}/memory-{setup}.go"
            out = self.pair(setup, "memory",
                            lambda a: ["sh", "-c", f"ulimit -n 65536; exec {exe} server {a} 7000 {n} {warm} {sync}"],
                            lambda a: ["sh", "-c", f"ulimit -n 65536; exec {exe} client {a} 7000 {n} {warm} {sync}"],
                            7000, timeout=300)
            srv_log = open(f"{self.work}/memory-{setup}-server.log").read()
            m = re.search(r"rss_kb before=(\d+) after=(\d+) conns=(\d+) heap_bytes=(-?\d+)", srv_log)
            if m:
                before, after, conns, heap = map(int, m.groups())
                res[setup] = {"bytes_per_conn": (after - before) * 1024.0 / conns, "conns": conns,
                              "heap_per_conn": heap / conns, "total": n}
                log(f"memory {setup}: {res[setup]['bytes_per_conn']:.0f} B RSS, "
                    f"{res[setup]['heap_per_conn']:.0f} B heap per idle connection ({conns}, after {warm} warm-up)")
            else:
                log(f"memory {setup}: no figure ({srv_log[-300:]} {out and out[-200:]})")
        self.results["memory"] = res

    # ------------------------------------------------------------ report
    def report(self):
        r = self.results
        rows = []

        def ratio(a, b):
            return f"{a / b:.2f}x" if a and b else "n/a"

        def f(v, nd=2):
            return "n/a" if v is None else f"{v:.{nd}f}"

        fl = r.get("floor", {})
        for size in (64, 1024):
            sp = r.get(f"sockperf{size}", {})
            for q, qn in (("p50", "p50"), ("p99", "p99"), ("p999", "p99.9")):
                lo, ve, me = (sp.get(s, {}).get(q) for s in SETUPS)
                target = ""
                if size == 64 and q == "p50":
                    met = me and lo and lo / me >= 13
                    target = f"loopback/dshim >= 13x: {'met' if met else 'not met'}"
                if size == 64 and q == "p999" and fl.get("p999") and me:
                    met = me <= 3 * fl["p999"]
                    target = f"<= 3x floor p99.9 ({fl['p999']:.2f} us): {'met' if met else 'not met'}"
                rows.append([f"sockperf ping-pong {size} B, half-RTT {qn} (us, lower is better)", f(lo), f(ve), f(me),
                             ratio(lo, me), target])
        if fl:
            rows.append(["raw memif round trip (memif_pingpong), half-RTT p50 / p99 / p99.9 (us)", "", "",
                         f"{fl['p50']:.2f} / {fl['p99']:.2f} / {fl['p999']:.2f}", "", "the floor"])
        for key in [k for k in r if k.startswith("iperf3")]:
            lo, ve, me = (r[key].get(s) for s in SETUPS)
            streams = key.split("-")[1][1:]
            direction = "server to client (-R)" if key.endswith("-R") else "client to server"
            target = ""
            if key == "iperf3-P1":
                target = f"dshim/loopback >= 1.5x: {'met' if me and lo and me / lo >= 1.5 else 'not met'}"
            rows.append([f"iperf3 {streams} stream(s), {direction}, MTU 1500 (Gbit/s)", f(lo), f(ve), f(me),
                         ratio(me, lo), target])
        if any(k.startswith("iperf3") for k in r):
            rows.append(["iperf3 over memif at MTU 9000", "", "", "not run", "",
                         "no jumbo MTU setting in shim/config.cc (the port takes the device's MTU, 1500)"])
        for conns in (1, 50):
            d = r.get(f"redis-c{conns}", {})
            for op in ("SET", "GET"):
                lo, ve, me = (d.get(s, {}).get(op) for s in SETUPS)
                met = me and lo and me / lo >= 2
                rows.append([f"redis-benchmark {op}, {conns} connection(s) (requests/s)", f(lo, 0), f(ve, 0),
                             f(me, 0), ratio(me, lo), f"dshim/loopback >= 2x: {'met' if met else 'not met'}"])
        for key, what in (("nginx-close", "new connection per request (connections/s)"),
                          ("nginx-keepalive", "keep-alive (requests/s)")):
            d = r.get(key, {})
            lo, ve, me = (d.get(s) for s in SETUPS)
            target = ""
            if key == "nginx-close":
                target = f"dshim/loopback >= 3x: {'met' if me and lo and me / lo >= 3 else 'not met'}"
            rows.append([f"nginx + ab -c 10, 1 KiB, {what}", f(lo, 0), f(ve, 0), f(me, 0), ratio(me, lo), target])
        st = r.get("startup")
        if st:
            met = st["extra_ms"] <= 130
            rows.append(["start-up: curl of 1 KiB, wall time (ms; kernel column: no preload; dshim: net_tap)",
                         f(st["kernel_ms"], 1), "", f(st["dshim_ms"], 1), f"+{st['extra_ms']:.0f} ms",
                         f"<= 100 ms EAL floor + 30 ms: {'met' if met else 'not met'}"])
        mem = r.get("memory", {})
        if mem:
            lo = mem.get("lo", {}).get("bytes_per_conn")
            me = mem.get("memif", {}).get("bytes_per_conn")
            total = (mem.get("memif") or mem.get("lo"))["total"]
            rows.append([f"memory: server RSS per idle established connection, {total} connections after a "
                         "warm-up (bytes; kernel: user space only)", f(lo, 0), "", f(me, 0), "",
                         f"<= 2048 B: {'met' if me is not None and me <= 2048 else 'not met'}"])
            hl = mem.get("lo", {}).get("heap_per_conn")
            hm = mem.get("memif", {}).get("heap_per_conn")
            rows.append(["memory: of which malloc'd heap per connection (bytes)", f(hl, 0), "", f(hm, 0), "", ""])
        hdr = ["workload", LABEL["lo"], LABEL["veth"], LABEL["memif"], "dshim vs loopback", "target"]
        lines = ["| " + " | ".join(hdr) + " |", "|" + "---|" * len(hdr)]
        lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
        cpu = subprocess.run("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2", shell=True, capture_output=True,
                             text=True).stdout.strip()
        load = " / ".join(f"{x:.1f}" for x in (self.load0[0], os.getloadavg()[0]))
        head = (f"dshim bench, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
                f"{'--quick' if self.quick else 'full run'}{', hugepages' if self.args.hugepages else ''}; "
                f"{os.cpu_count()} cores ({cpu}); server on core 0, client on core 1. Ratios: dshim over "
                "kernel loopback (for latency: loopback over dshim). Load average (1 min) at start / end: "
                f"{load}; anything above ~0.5 means other programs shared the two cores and the tails "
                "(p99, p99.9) of the kernel rows and of the floor include their time slices.")
        md = head + "\n\n" + "\n".join(lines) + "\n"
        os.makedirs(self.args.out, exist_ok=True)
        with open(f"{self.args.out}/results.md", "w") as f:
            f.write(md)
        with open(f"{self.args.out}/results.json", "w") as f:
            json.dump(r, f, indent=1, default=str)
        print(md)
        self.plots()

    def plots(self):
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            log("python3-matplotlib missing: no plots")
            return
        r = self.results
        colors = {"lo": "tab:blue", "veth": "tab:orange", "memif": "tab:green"}
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
        for ax, size in zip(axes, (64, 1024)):
            for s in SETUPS:
                pct = r.get(f"sockperf{size}", {}).get(s, {}).get("pct")
                if pct:
                    xs = sorted(x for x in pct if 0 < x < 100)
                    ax.plot([x / 100 for x in xs], [pct[x] for x in xs], marker="o", label=LABEL[s],
                            color=colors[s])
            fl = r.get("floor")
            if fl and size == 64:
                ax.plot([0.5, 0.99, 0.999], [fl["p50"], fl["p99"], fl["p999"]], marker="x", linestyle="--",
                        color="gray", label="raw memif floor")
            ax.set_yscale("log")
            ax.set_xscale("logit")
            ax.set_xlabel("percentile")
            ax.set_ylabel("half-RTT (us)")
            ax.set_title(f"sockperf TCP ping-pong, {size} B")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend()
        fig.tight_layout()
        fig.savefig(f"{self.args.out}/latency.png", dpi=100)
        plt.close(fig)
        groups = [(k, k) for k in r if k.startswith("iperf3")]
        groups += [(f"redis-c{c}", f"redis-c{c}") for c in (1, 50)]
        groups += [("nginx-close", "nginx-close"), ("nginx-keepalive", "nginx-keepalive")]
        fig, ax = plt.subplots(figsize=(12, 4.5))
        labels, x = [], 0
        for key, _ in groups:
            d = r.get(key, {})
            if not d:
                continue
            if key.startswith("redis"):
                vals = {s: (d.get(s) or {}).get("GET") for s in SETUPS}
                label = key + " GET"
            else:
                vals = {s: d.get(s) for s in SETUPS}
                label = key
            base = vals.get("lo")
            for i, s in enumerate(SETUPS):
                v = vals.get(s)
                if v and base:
                    ax.bar(x + i * 0.27, v / base, width=0.27, color=colors[s], label=LABEL[s] if x == 0 else None)
            labels.append((x + 0.27, label))
            x += 1
        ax.set_xticks([p for p, _ in labels])
        ax.set_xticklabels([t for _, t in labels], rotation=20, ha="right")
        ax.set_ylabel("throughput relative to kernel loopback")
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_title("throughput (higher is better)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(f"{self.args.out}/throughput.png", dpi=100)
        plt.close(fig)
        log(f"plots: {self.args.out}/latency.png {self.args.out}/throughput.png")


def main():
    ap = argparse.ArgumentParser(description="kernel sockets vs dshim, side by side")
    ap.add_argument("--quick", action="store_true", help="short runs, under two minutes")
    ap.add_argument("--hugepages", action="store_true", help="dshim on hugepages (DSHIM_HUGEPAGES=1)")
    ap.add_argument("--build", default=f"{REPO}/build")
    ap.add_argument("--out", default=f"{REPO}/bench-results")
    ap.add_argument("--only", default="", help="comma-separated subset: floor,sockperf,iperf3,redis,nginx,"
                                                "startup,memory")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    b = Bench(args)
    steps = ["floor", "sockperf", "iperf3", "redis", "nginx", "startup", "memory"]
    only = [s for s in args.only.split(",") if s] or steps
    t0 = time.time()
    try:
        b.setup_net()
        for s in steps:
            if s in only:
                getattr(b, s)()
        b.report()
    finally:
        b.cleanup()
    log(f"bench took {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
