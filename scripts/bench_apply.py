#!/usr/bin/env python3
"""`just bench-apply`: plan and apply of the reference stack under latency.

Runs the real `stackplan` binary against private emulator sets (moto, a
kube-apiserver, helm; tests/harness/up.sh), with AWS reached through
tests/harness/fault_proxy.py on 127.0.0.1, and prints side by side:

1. Plan with 50 ms per AWS call: plan wall time vs the sum of the latencies
   the proxy injected into its reads (from the proxy's stats file), and the
   ratio (goal <= 0.15); also net of the same plan's wall time with no
   delay (process start, Kubernetes reads). Kubernetes reads go straight to
   the apiserver and are not delayed. Five rounds, alternating the two
   proxies so both see the same machine load; medians and ranges.
2. Apply under the latency model (EKS cluster 15 min, node group 5 min, MSK
   25 min, scaled down 1000x: 900, 300, 1500 ms; and 100x), put on the
   create call of each of those kinds (the emulators report ACTIVE on the
   next read, so the call's delay is the resource's creation time). The
   critical path is bracketed two ways, then measured:
   - from above: the longest chain of modelled delays through `stackplan
     graph`'s edges plus the wall time of the same apply with no delay on
     another fresh set (the unmodelled work: process start, plan, helm),
     which partly overlaps the chain. Ratio goal <= 1.05.
   - from below: max(chain, no-delay apply).
   - the run's own: the longest path through the graph of each resource's
     measured duration (its `started` to `done` lines, timed as they
     arrive), plus the time before the first start and after the last
     end. Wall time over it is the walker's own slack: time a resource
     waited though everything it depends on was done.

Usage: scripts/bench_apply.py [--binary target/release/stackplan]

The release build is measured by default: it is what users run, and a
debug build spends more CPU signing and parsing than the emulators'
latency it is measured against.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROXY = os.path.join(ROOT, "tests/harness/fault_proxy.py")

# kind -> (REST route of its create call, minutes it takes on AWS).
MODEL = {
    "eks_cluster": (r"POST /clusters", 15),
    "eks_nodegroup": (r"POST /clusters/[^/]+/node-groups", 5),
    "msk_cluster": (r"POST /v1/clusters", 25),
}

# 1000x is the goal's scale; 100x is printed too, where the model dominates
# the unmodelled work.
SCALES = (1000, 100)

PLAN_ROUNDS = 5


def median(xs):
    xs = sorted(xs)
    mid = len(xs) // 2
    return xs[mid] if len(xs) % 2 else (xs[mid - 1] + xs[mid]) / 2


def model_ms(minutes, scale):
    return minutes * 60_000 // scale


class Emulators:
    def __init__(self, work, name):
        self.dir = os.path.join(work, name)
        self.env = dict(os.environ, STACKPLAN_EMULATORS_DIR=self.dir)
        subprocess.run(["bash", os.path.join(ROOT, "tests/harness/up.sh")],
                       env=self.env, check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(self.dir, "env")) as f:
            for line in f:
                m = re.match(r'export (\w+)="?(.*?)"?$', line.strip())
                if m:
                    self.env[m.group(1)] = m.group(2)
        # helm 3: the real Milvus chart's ports without `protocol` are refused
        # by helm 4's server-side apply on the 1.20 test apiserver.
        self.env["STACKPLAN_HELM"] = self.env["STACKPLAN_HELM_V3"]
        self.env["PATH"] = os.path.dirname(self.env["STACKPLAN_HELM"]) + ":" + self.env["PATH"]
        self.env["MSK_SCRAM_PASSWORD"] = "bench-0123456789abcdef"
        self.env["NO_COLOR"] = "1"

    def stop(self):
        subprocess.run(["bash", os.path.join(ROOT, "tests/harness/down.sh"), "--quiet", "--purge"],
                       env=self.env, check=False)


class Proxy:
    def __init__(self, emulators, work, args):
        self.port_file = tempfile.mktemp(dir=work, suffix=".port")
        self.stats_file = tempfile.mktemp(dir=work, suffix=".stats.json")
        self.proc = subprocess.Popen(
            [sys.executable, PROXY, "--upstream", f"http://127.0.0.1:{emulators.env['STACKPLAN_MOTO_PORT']}",
             "--port", "0", "--port-file", self.port_file, "--stats-file", self.stats_file, *args],
            stderr=subprocess.DEVNULL)
        deadline = time.time() + 20
        while not (os.path.exists(self.port_file) and open(self.port_file).read().strip()):
            if time.time() > deadline:
                sys.exit("bench: the fault proxy did not start")
            time.sleep(0.02)
        self.url = "http://127.0.0.1:" + open(self.port_file).read().strip()

    def stats(self):
        if not os.path.exists(self.stats_file):
            return {}
        with open(self.stats_file) as f:
            return json.load(f)

    def totals(self):
        """(requests, injected delay in ms) so far, over every operation."""
        stats = self.stats().values()
        return sum(s["requests"] for s in stats), sum(s["delay_ms"] for s in stats)

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def workspace(emulators, work, name):
    """stacks/milvus-local.toml with its state, kubeconfig and charts made absolute."""
    d = os.path.join(work, name)
    os.makedirs(d)
    charts = os.path.join(ROOT, "tests/fixtures/charts")
    shared = os.path.realpath(os.path.join(ROOT, "..", "shared", "charts"))
    out = []
    with open(os.path.join(ROOT, "stacks/milvus-local.toml")) as f:
        for line in f:
            if line.startswith("path = "):
                line = f'path = "{d}/state.json"\n'
            elif line.startswith("kubeconfig = "):
                line = f'kubeconfig = "{emulators.env["KUBECONFIG"]}"\n'
            else:
                line = line.replace("../tests/fixtures/charts", charts)
                line = line.replace("../../shared/charts", shared)
            out.append(line)
    stack = os.path.join(d, "stack.toml")
    with open(stack, "w") as f:
        f.writelines(out)
    return stack


def run(binary, emulators, endpoint, args, expect):
    env = dict(emulators.env, AWS_ENDPOINT_URL=endpoint)
    started = time.monotonic()
    done = subprocess.run([binary, *args], env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.monotonic() - started
    if done.returncode != expect:
        sys.exit(f"bench: stackplan {' '.join(args)} exited {done.returncode}, expected {expect}\n"
                 f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return wall, done


PROGRESS = re.compile(r"^\S+ (\S+): (create|update|replace|delete) (started|done)")


def run_timed(binary, emulators, endpoint, args):
    """Runs stackplan, timing each resource's `started` and `done` lines as
    they arrive (the lines' own timestamps are whole seconds). Returns the
    wall time and {addr: (started, done)} in seconds from process start."""
    env = dict(emulators.env, AWS_ENDPOINT_URL=endpoint)
    started = time.monotonic()
    proc = subprocess.Popen([binary, *args], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    spans, tail = {}, []
    for line in proc.stdout:
        now = time.monotonic() - started
        tail = (tail + [line])[-60:]
        m = PROGRESS.match(line)
        if m:
            addr, _, phase = m.groups()
            if phase == "started":
                spans[addr] = (now, None)
            elif addr in spans:
                spans[addr] = (spans[addr][0], now)
    proc.wait()
    wall = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(f"bench: stackplan {' '.join(args)} exited {proc.returncode}\n{''.join(tail)}")
    return wall, {a: s for a, s in spans.items() if s[1] is not None}


def graph_edges(binary, emulators, stack):
    """The nodes and edges of `stackplan graph` (dependency -> dependent)."""
    _, done = run(binary, emulators, emulators.env["AWS_ENDPOINT_URL"],
                  ["graph", stack, "--format", "dot"], 0)
    nodes, edges = set(), []
    for line in done.stdout.splitlines():
        m = re.match(r'\s*"([^"]+)"\s*->\s*"([^"]+)"', line)
        if m:
            edges.append((m.group(1), m.group(2)))
            nodes.update(m.groups())
            continue
        m = re.match(r'\s*"([^"]+)"', line)
        if m:
            nodes.add(m.group(1))
    return nodes, edges


def measured_critical_path(nodes, edges, spans, wall):
    """The critical path of one run from its own durations: the time before
    the first resource starts (start-up, plan), the longest chain of
    resource durations through the graph, and the time after the last one
    ends (state, summary). Only waiting that the graph does not force is
    left out: wall / this is the walker's own slack."""
    if not spans:
        return wall
    preds = {n: [] for n in nodes}
    for a, b in edges:
        preds.setdefault(b, []).append(a)
    memo = {}

    def finish(n):
        if n not in memo:
            s, d = spans.get(n, (0.0, 0.0))
            memo[n] = (d - s) + max((finish(p) for p in preds.get(n, [])), default=0.0)
        return memo[n]

    lead = min(s for s, _ in spans.values())
    trail = wall - max(d for _, d in spans.values())
    return lead + max(finish(n) for n in nodes) + trail


def longest_chain_ms(binary, emulators, stack, scale):
    """The longest path of modelled delays through the stack's graph."""
    nodes, edges = graph_edges(binary, emulators, stack)

    def weight(addr):
        return model_ms(MODEL.get(addr.split(".")[0], (None, 0))[1], scale)

    preds = {n: [] for n in nodes}
    for a, b in edges:
        preds[b].append(a)
    memo, chain = {}, {}

    def finish(n):
        if n not in memo:
            best = max(preds[n], key=finish, default=None)
            memo[n] = weight(n) + (finish(best) if best else 0)
            chain[n] = (chain[best] if best else []) + ([n] if weight(n) else [])
        return memo[n]

    end = max(nodes, key=finish)
    return memo[end], chain[end]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--binary", default=os.path.join(ROOT, "target/release/stackplan"))
    args = p.parse_args()
    binary = os.path.abspath(args.binary)
    work = tempfile.mkdtemp(prefix="stackplan-bench-")
    started = []
    try:
        # 1. Plan with 50 ms per AWS call, of the applied stack.
        emu = Emulators(work, "emu-plan")
        started.append(emu)
        stack = workspace(emu, work, "plan")
        run(binary, emu, emu.env["AWS_ENDPOINT_URL"], ["apply", stack, "--yes"], 0)
        # Rounds alternate no delay and 50 ms, so that both see the same
        # machine load; the medians are reported (this machine is shared).
        nodelay_proxy = Proxy(emu, work, [])
        delay_proxy = Proxy(emu, work, ["--delay-ms", "50"])
        nodelay_walls, plan_walls, sums, counts = [], [], [], []
        for _ in range(PLAN_ROUNDS):
            wall, _ = run(binary, emu, nodelay_proxy.url, ["plan", stack, "--detailed-exitcode"], 0)
            nodelay_walls.append(wall)
            # The proxy's counts are cumulative: a round is the difference.
            before = delay_proxy.totals()
            wall, _ = run(binary, emu, delay_proxy.url, ["plan", stack, "--detailed-exitcode"], 0)
            plan_walls.append(wall)
            after = delay_proxy.totals()
            counts.append(after[0] - before[0])
            sums.append((after[1] - before[1]) / 1000)
        nodelay_proxy.stop()
        delay_proxy.stop()
        emu.stop()
        started.remove(emu)

        # 2a. The unmodelled work: the same apply with no delay.
        emu = Emulators(work, "emu-baseline")
        started.append(emu)
        stack = workspace(emu, work, "baseline")
        baseline_wall, _ = run(binary, emu, emu.env["AWS_ENDPOINT_URL"], ["apply", stack, "--yes"], 0)
        chains = {scale: longest_chain_ms(binary, emu, stack, scale) for scale in SCALES}
        emu.stop()
        started.remove(emu)

        # 2b. Apply under the latency model, at each scale.
        model_walls, modelled_calls, measured = {}, {}, {}
        for scale in SCALES:
            emu = Emulators(work, f"emu-model-{scale}")
            started.append(emu)
            stack = workspace(emu, work, f"model-{scale}")
            routes = []
            for route, minutes in MODEL.values():
                routes += ["--route-delay", f"{route}={model_ms(minutes, scale)}"]
            proxy = Proxy(emu, work, routes)
            model_walls[scale], spans = run_timed(binary, emu, proxy.url, ["apply", stack, "--yes"])
            nodes, edges = graph_edges(binary, emu, stack)
            measured[scale] = measured_critical_path(nodes, edges, spans, model_walls[scale])
            stats = proxy.stats()
            proxy.stop()
            modelled_calls[scale] = sum(s["delay_ms"] for s in stats.values())
            emu.stop()
            started.remove(emu)
    finally:
        for emu in started:
            emu.stop()
        shutil.rmtree(work, ignore_errors=True)

    print("stackplan bench-apply: reference stack (stacks/milvus-local.toml), binary", binary)
    print()
    ratios = sorted(w / d for w, d in zip(plan_walls, sums))
    net = sorted((w - n) / d for w, n, d in zip(plan_walls, nodelay_walls, sums))
    print(f"plan, 50 ms per AWS call (Kubernetes reads not delayed), {PLAN_ROUNDS} rounds, medians")
    print(f"  AWS calls through the proxy        {median(counts):8.0f}")
    print(f"  sum of read latencies              {median(sums):8.3f} s")
    print(f"  plan wall time                     {median(plan_walls):8.3f} s  ({min(plan_walls):.3f} to {max(plan_walls):.3f})")
    print(f"  ratio wall / sum                   {median(ratios):8.3f}   ({ratios[0]:.3f} to {ratios[-1]:.3f}; goal <= 0.15)")
    print(f"  plan wall time with no delay       {median(nodelay_walls):8.3f} s")
    print(f"  ratio (wall - no-delay wall) / sum {median(net):8.3f}")
    for scale in SCALES:
        chain_ms, chain = chains[scale]
        critical_s = baseline_wall + chain_ms / 1000
        wall = model_walls[scale]
        ms = {kind: model_ms(minutes, scale) for kind, (_, minutes) in MODEL.items()}
        print()
        print(f"apply, latency model scaled {scale}x (create calls: {ms} ms)")
        print(f"  delay injected in total            {modelled_calls[scale] / 1000:8.3f} s")
        print(f"  longest modelled chain             {chain_ms / 1000:8.3f} s  ({' -> '.join(chain)})")
        print(f"  apply with no delay (baseline)     {baseline_wall:8.3f} s")
        print(f"  critical path (chain + baseline)   {critical_s:8.3f} s")
        print(f"  apply wall time under the model    {wall:8.3f} s")
        print(f"  ratio wall / critical path         {wall / critical_s:8.3f}   (goal <= 1.05)")
        # The unmodelled work partly overlaps the modelled chain, so the
        # true critical path lies between these two bounds.
        floor_s = max(baseline_wall, chain_ms / 1000)
        print(f"  ratio wall / max(chain, baseline)  {wall / floor_s:8.3f}   (the bound from below)")
        print(f"  critical path of the run itself    {measured[scale]:8.3f} s  (its own resource durations)")
        print(f"  ratio wall / that critical path    {wall / measured[scale]:8.3f}   (the walker's own slack)")

if __name__ == "__main__":
    main()
