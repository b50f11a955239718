import sys
import time

sys.path.insert(0, "/tmp/b1")
import debug_hooks

import tests.prove.test_interleavings as ti

orig = ti.new_client
names = iter(["sweep", "claimant"])


def traced(url=None):
    c = orig(url)
    debug_hooks.trace(c, next(names))
    return c


ti.new_client = traced


def test_one(world):
    debug_hooks.T0 = time.monotonic()
    done = ti.play(world, ti.SCHEDULES["claim-between-the-sweeps-read-and-its-mark"])
    print(done)
