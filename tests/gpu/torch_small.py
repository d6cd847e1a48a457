#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A small PyTorch training loop for the GPU tests.

Plain run: the workload only (traced from outside by `tracesmith record`).
--profile FILE: the same workload inside torch.profiler (CUDA activities); writes the
multiset of kernel names it saw to FILE as JSON, for comparison with TraceSmith's capture.
"""
import json
import sys

import torch


def work():
    torch.manual_seed(0)
    dev = torch.device("cuda")
    model = torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.ReLU(),
                                torch.nn.Linear(512, 10)).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(64, 256, device=dev)
    y = torch.randint(0, 10, (64,), device=dev)
    for _ in range(5):
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    torch.cuda.synchronize()
    return float(loss)


def main():
    if not torch.cuda.is_available():
        print("no CUDA device: skipping", file=sys.stderr)
        return 77
    if len(sys.argv) > 2 and sys.argv[1] == "--profile":
        from torch.profiler import ProfilerActivity, profile
        torch.cuda.init()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            work()
        names = {}
        for e in prof.events():
            if e.device_type == torch.autograd.DeviceType.CUDA and not e.name.startswith(
                    ("Memcpy", "Memset")):
                names[e.name] = names.get(e.name, 0) + 1
        with open(sys.argv[2], "w") as f:
            json.dump(names, f, indent=1, sort_keys=True)
        return 0
    print("loss %.4f" % work())
    return 0


if __name__ == "__main__":
    sys.exit(main())
