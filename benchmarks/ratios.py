#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Prints ratios between the benchmarks of one tapegrad_bench run (same machine, same run).

Google Benchmark cannot divide one benchmark by another, so this does: tapegrad / plain double
evaluation and hand-written gradient / plain for the scalar workload, our matmul / raw
cblas_sgemm, our elementwise ops / memcpy, and the time per training step.

Usage:
  ratios.py bench.json                      read a run saved with --benchmark_out=bench.json
                                            --benchmark_out_format=json
  ratios.py path/to/tapegrad_bench [flags]  run the binary (extra flags passed on) and read it
Python 3 standard library only.
"""
import json
import os
import subprocess
import sys
import tempfile

UNIT = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def load(argv):
    path = argv[0]
    if path.endswith(".json"):
        with open(path) as f:
            return json.load(f)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "bench.json")
        subprocess.run([path, f"--benchmark_out={out}", "--benchmark_out_format=json", *argv[1:]],
                       check=True)
        with open(out) as f:
            return json.load(f)


def collect(run):
    """name -> benchmark entry, with its time per iteration in seconds as entry['seconds'].

    Benchmarks registered with UseRealTime() (those that run BLAS threads) are named
    '<name>/real_time' and timed by the wall clock; the single-threaded ones by CPU time, which a
    busy machine disturbs less. With --benchmark_repetitions the median is used.
    """
    out = {}
    for b in run["benchmarks"]:
        kind = b.get("run_type", "iteration")
        if kind == "aggregate" and b.get("aggregate_name") != "median":
            continue
        name = b.get("run_name", b["name"]) if kind == "aggregate" else b["name"]
        real = name.endswith("/real_time")
        if real:
            name = name[: -len("/real_time")]
        if kind == "iteration" and name in out and out[name].get("run_type") == "aggregate":
            continue
        b = dict(b)
        b["seconds"] = b["real_time" if real else "cpu_time"] * UNIT[b["time_unit"]]
        out[name] = b
    return out


def scalar_table(b):
    print("\nscalar f(x) = sum_i cos(sin(x_i^2) + 3 x_i^2): value + gradient      time   / plain")
    for n in ("10000", "1000000"):
        plain = b.get(f"BM_ScalarPlain/{n}")
        if not plain:
            continue
        rows = [("plain double evaluation", "BM_ScalarPlain"),
                ("hand-written value + gradient", "BM_ScalarHandGradient"),
                ("tapegrad: record only", "BM_ScalarTapeRecord"),
                ("tapegrad: record + backward + read", "BM_ScalarTapeGradient"),
                ("the same in anomaly mode", "BM_ScalarTapeGradientAnomaly")]
        print(f"  n = {int(n):,}")
        for label, name in rows:
            e = b.get(f"{name}/{n}")
            if e:
                print(f"    {label:<40} {e['seconds'] * 1e3:10.3f} ms {e['seconds'] / plain['seconds']:7.2f}x")
        grad, rec = b.get(f"BM_ScalarTapeGradient/{n}"), b.get(f"BM_ScalarTapeRecord/{n}")
        if grad and rec:
            nodes, operands = grad["nodes"], grad["operands"]
            sweep = grad["seconds"] - rec["seconds"]
            print(f"    {'tapegrad: backward + read (difference)':<40} {sweep * 1e3:10.3f} ms "
                  f"{sweep / plain['seconds']:7.2f}x")
            print(f"    tape: {nodes:,.0f} nodes, {operands:,.0f} operands "
                  f"({operands / nodes:.3f} per node), {grad['bytes_per_node']:.1f} bytes reserved per node")
            print(f"    per node: record {rec['seconds'] / nodes * 1e9:.2f} ns, "
                  f"backward {sweep / nodes * 1e9:.2f} ns, "
                  f"gradient {grad['seconds'] / nodes * 1e9:.2f} ns")


def matmul_table(b):
    rows = []
    for n in ("64", "128", "256", "512"):
        ours, raw = b.get(f"BM_MatmulTape/{n}"), b.get(f"BM_MatmulRawSgemm/{n}")
        if ours and raw:
            rows.append((n, ours, raw))
    if not rows:
        return
    print("\nmatmul forward + backward (C = AB, dA = dC B^T, dB = A^T dC), float32")
    print("  size          tapegrad         raw cblas_sgemm     time ours/raw")
    for n, ours, raw in rows:
        print(f"  {n:>4}x{n:<4} {ours['GFLOPs'] / 1e9:8.1f} GFLOP/s {raw['GFLOPs'] / 1e9:8.1f} GFLOP/s"
              f"   {ours['seconds'] / raw['seconds']:10.2f}x")


def bandwidth_table(b):
    memcpy = b.get("BM_ElementwiseMemcpy/1048576")
    if not memcpy:
        return
    # The second baseline copies 10 MiB each way: a 20 MiB footprint, as large as tanh's.
    matched = b.get("BM_ElementwiseMemcpy/2621440")
    print("\nelementwise and reductions, float32 (bytes: the least traffic each op needs;")
    print("  memcpy on one thread, of 4 MiB and of a 20 MiB footprint; the ops on 1 and on all")
    print("  threads)")
    print("  benchmark                                      time      GB/s   / memcpy 4 MiB, 20 MiB")
    names = ["BM_ElementwiseMemcpy/1048576", "BM_ElementwiseMemcpy/2621440"]
    for op in ("BM_ElementwiseTanhTape/1048576", "BM_ElementwiseTanhSumTape/1048576",
               "BM_ElementwiseAddBroadcastTape/1024", "BM_ElementwiseAddColumnBroadcastTape/1024"):
        names += [f"{op}/1", f"{op}/0"]
    names.append("BM_ReduceSumAxis0Tape")
    for name in names:
        e = b.get(name)
        if e:
            label = name
            if name.endswith("/1") or name.endswith("/0"):
                threads = int(e.get("threads", 1))
                label = f"{name[:-2]}, {threads} thread{'s' if threads > 1 else ''}"
            rate = e["bytes_per_second"]
            vs_matched = f"{rate / matched['bytes_per_second']:8.1%}" if matched else ""
            print(f"  {label:<52} {e['seconds'] * 1e6:8.1f} us {rate / 1e9:6.1f} "
                  f"{rate / memcpy['bytes_per_second']:10.1%}{vs_matched}")


def step_table(b):
    rows = [("BM_StepDigitsMlpOps", "64-128-64-10 tanh, batch 32, f32, ops + hand SGD, MSE"),
            ("BM_StepDigitsMlp", "64-128-64-10 tanh, batch 32, f32, nn::mlp + optim::SGD, CE"),
            ("BM_StepXorOnlineOps", "XOR 2-4-1 online, ops + hand SGD"),
            ("BM_StepXorOnline", "XOR 2-4-1 online, nn::mlp + SGD momentum"),
            ("BM_StepLargeMlpF32", "784-512-256-10 relu, batch 128, f32"),
            ("BM_StepLargeMlpF64", "784-512-256-10 relu, batch 128, f64")]
    if not any(name in b for name, _ in rows):
        return
    print("\ntraining step (forward, loss, backward, SGD update, tape reset)")
    for name, label in rows:
        e = b.get(name)
        if e:
            print(f"  {label:<62} {e['seconds'] * 1e6:10.1f} us")


def finite_difference_table(b):
    sizes = sorted(int(k.split("/")[1]) for k in b if k.startswith("BM_GradientBackprop/"))
    if not sizes:
        return
    print("\nbackprop vs central finite differences: full gradient of a 8-H-1 tanh MLP, batch 16")
    print("  hidden  weights     backprop   finite differences   FD / backprop")
    for h in sizes:
        bp = b.get(f"BM_GradientBackprop/{h}")
        fd = b.get(f"BM_GradientFiniteDifferences/{h}")
        if bp and fd:
            print(f"  {h:>6} {int(bp['weights']):>8} {bp['seconds'] * 1e6:9.1f} us "
                  f"{fd['seconds'] * 1e6:17.1f} us {fd['seconds'] / bp['seconds']:14.0f}x")
    print("  (backprop grows like the number of weights W, finite differences like W^2)")


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    run = load(argv)
    ctx = run["context"]
    print(f"machine: {ctx.get('host_name', '?')}, {ctx.get('num_cpus', '?')} cpus @ "
          f"{ctx.get('mhz_per_cpu', '?')} MHz, load {ctx.get('load_avg', '?')}")
    if "blas" in ctx:
        print(f"blas: {ctx['blas']}")
    b = collect(run)
    scalar_table(b)
    matmul_table(b)
    bandwidth_table(b)
    step_table(b)
    finite_difference_table(b)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
