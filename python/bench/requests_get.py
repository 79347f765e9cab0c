"""``requests.get`` latency, measured the same way natively (CPython + OpenSSL)
and inside Wasm (CPython + memtls): ``requests_get.py URL CAFILE COUNT``.

Each call is what a program that calls ``requests.get(url, verify=CAFILE)``
does: a new connection (and a new ``ssl`` context) every time. Prints
a ``memtls-bench`` report: ``memtls-bench {"first_ms": ..., "median_ms": ..., "min_ms": ...}``.
"""

import json
import sys
import time

import requests

url, cafile, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
times = []
for _ in range(count):
    start = time.perf_counter()
    response = requests.get(url, verify=cafile, timeout=30)
    response.raise_for_status()
    times.append((time.perf_counter() - start) * 1000)
rest = sorted(times[1:]) or times
print("memtls-bench", json.dumps({"first_ms": times[0], "median_ms": rest[len(rest) // 2],
                                  "min_ms": rest[0], "count": count}))
