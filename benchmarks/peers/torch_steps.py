#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""PyTorch's side of the training-step comparison (run by benchmarks/compare).

The same networks, data shapes, losses and optimiser settings as tapegrad's BM_Step* benchmarks
(benchmarks/bench_training.cpp): one step = forward, loss, backward, SGD update.

Usage: torch_steps.py THREADS [STEPS]   prints one JSON object: workload -> median ms per step
"""
import json
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn


def mlp(sizes, hidden, output=None, dtype=torch.float32):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1], dtype=dtype))
        if i < len(sizes) - 2:
            layers.append(hidden())
    if output is not None:
        layers.append(output())
    return nn.Sequential(*layers)


def median_step_ms(step, steps, repeats=7):
    """Median over `repeats` runs of the mean time of `steps` steps, after a warm-up."""
    for _ in range(max(3, steps // 10)):
        step()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        times.append((time.perf_counter() - t0) * 1e3 / steps)
    times.sort()
    return times[len(times) // 2]


def classifier_step(sizes, hidden, batch, dtype):
    torch.manual_seed(1)
    net = mlp(sizes, hidden, dtype=dtype)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    x = torch.randn(batch, sizes[0], dtype=dtype)
    labels = torch.arange(batch) % sizes[-1]

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(x), labels).backward()
        opt.step()

    return step


def xor_step():
    torch.manual_seed(0)
    net = mlp([2, 4, 1], nn.Tanh, nn.Sigmoid, dtype=torch.float64)
    opt = torch.optim.SGD(net.parameters(), lr=0.5, momentum=0.9)
    xs = [torch.tensor([[a, b]], dtype=torch.float64) for a, b in ((0, 0), (0, 1), (1, 0), (1, 1))]
    ys = [torch.tensor([[y]], dtype=torch.float64) for y in (0.0, 1.0, 1.0, 0.0)]
    i = [0]

    def step():
        k = i[0]
        opt.zero_grad(set_to_none=True)
        (0.5 * ((net(xs[k]) - ys[k]) ** 2).sum()).backward()
        opt.step()
        i[0] = (k + 1) % 4

    return step


def main():
    threads = int(sys.argv[1])
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    torch.set_num_threads(threads)
    result = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "digits_mlp_f32_ms": median_step_ms(
            classifier_step([64, 128, 64, 10], nn.Tanh, 32, torch.float32), steps),
        "xor_online_ms": median_step_ms(xor_step(), steps),
        "large_mlp_f32_ms": median_step_ms(
            classifier_step([784, 512, 256, 10], nn.ReLU, 128, torch.float32), max(10, steps // 10)),
        "large_mlp_f64_ms": median_step_ms(
            classifier_step([784, 512, 256, 10], nn.ReLU, 128, torch.float64), max(10, steps // 10)),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
