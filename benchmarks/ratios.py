#!/usr/bin/env python3
"""Prints the ratios between benchmarks of one Google Benchmark JSON run (same machine, same run).

Usage: ratios.py bench.json
"""
import json
import sys


def main(path):
    with open(path) as f:
        run = json.load(f)
    times = {}
    counters = {}
    for b in run["benchmarks"]:
        if b.get("run_type", "iteration") != "iteration":
            continue
        scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b["time_unit"]]
        times[b["name"]] = b["real_time"] * scale
        counters[b["name"]] = b

    ctx = run["context"]
    print(f"\nmachine: {ctx.get('host_name', '?')}, {ctx.get('num_cpus', '?')} cpus @ {ctx.get('mhz_per_cpu', '?')} MHz")
    if "blas" in ctx:
        print(f"blas: {ctx['blas']}")

    print("\nscalar f(x) = sum cos(sin(x^2) + 3x^2)            time        / plain")
    for n in ("10000", "1000000"):
        plain = times.get(f"BM_ScalarPlain/{n}")
        if not plain:
            continue
        for name in ("BM_ScalarPlain", "BM_ScalarHandGradient", "BM_ScalarTapeRecord", "BM_ScalarTapeGradient"):
            t = times.get(f"{name}/{n}")
            if t:
                print(f"  {name + '/' + n:<42} {t * 1e3:9.3f} ms  {t / plain:6.2f}x")
        tape = counters.get(f"BM_ScalarTapeGradient/{n}")
        if tape:
            print(f"  tape: {tape['ns_per_node']:.2f} ns and {tape['bytes_per_node']:.1f} bytes per node "
                  f"({tape['operands_per_node']:.2f} operands per node)")

    print("\nmatmul forward + backward (3 GEMMs), float32     ours       raw sgemm   ours/raw")
    for n in ("64", "128", "256", "512"):
        ours, raw = counters.get(f"BM_MatmulTape/{n}"), counters.get(f"BM_MatmulRawSgemm/{n}")
        if ours and raw:
            print(f"  {n:>4}x{n:<4} {ours['GFLOPs'] / 1e9:10.1f} GFLOP/s {raw['GFLOPs'] / 1e9:8.1f} GFLOP/s   {ours['GFLOPs'] / raw['GFLOPs']:6.1%}")

    memcpy = counters.get("BM_ElementwiseMemcpy/1048576")
    if memcpy:
        print("\nelementwise, float32                              GB/s    / memcpy")
        for name in ("BM_ElementwiseMemcpy/1048576", "BM_ElementwiseTanhTape/1048576",
                     "BM_ElementwiseAddBroadcastTape/1024", "BM_ReduceSumAxis0Tape"):
            b = counters.get(name)
            if b:
                print(f"  {name:<44} {b['bytes_per_second'] / 1e9:6.1f}  {b['bytes_per_second'] / memcpy['bytes_per_second']:7.1%}")

    print("\ntraining step (forward, loss, backward, SGD update)")
    for name in ("BM_StepDigitsMlp", "BM_StepXorOnline", "BM_StepLargeMlpF32", "BM_StepLargeMlpF64"):
        t = times.get(name)
        if t:
            print(f"  {name:<44} {t * 1e6:10.1f} us per step")


if __name__ == "__main__":
    main(sys.argv[1])
