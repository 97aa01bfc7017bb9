"""Training time of MLP classification stacks (the softmax path of ``students.mlp_grads``).

Stacks of 8 students (n = 2048 and 16384 x 4 seeds, one hidden layer, 1,000 Adam steps, batch 256)
on teacher-classification at widths 16, 64 and 256; best of 3, one thread. To compare two versions
of the engine, run this same file in a checkout of each, one after the other (it times whichever
``workbench`` it imports, and prints that path):

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_classification_stack.py
"""

from __future__ import annotations

import json
import time

import torch

import workbench
from workbench.sweep_train import RunConfig, train_stack
from workbench.tasks import make_task, task_config


def main() -> dict:
    torch.set_num_threads(1)
    tc = task_config("teacher-classification")
    task = make_task(tc)
    train_stack(task, [RunConfig(task=tc, family="mlp", width=16, n=1024, steps=20, lr=3e-3)])  # warm-up
    out = {"workbench": workbench.__file__, "seconds_by_width": {}}
    for width in (16, 64, 256):
        runs = [RunConfig(task=tc, family="mlp", width=width, depth=1, n=n, seed=s, steps=1000, batch_size=256,
                          lr=3e-3) for n in (2048, 16384) for s in range(4)]
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            train_stack(task, runs)
            times.append(time.perf_counter() - t0)
        out["seconds_by_width"][width] = round(min(times), 3)
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
