"""urllib HTTPS GET latency, measured the same way natively (CPython + OpenSSL)
and inside Wasm (CPython + memtls): ``https_get.py URL CAFILE COUNT``.

Prints a ``memtls-bench`` report, ``memtls-bench {"first_ms": ..., "median_ms": ...,
"min_ms": ..., "count": ...}``: the first GET and the median and fastest of the rest
(one context; neither CPython nor memtls resumes without ``session=``, so every GET
is a full handshake).
"""

import json
import ssl
import sys
import time
import urllib.request

url, cafile, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
context = ssl.create_default_context(cafile=cafile)
times = []
for _ in range(count):
    start = time.perf_counter()
    with urllib.request.urlopen(url, context=context) as response:
        response.read()
    times.append((time.perf_counter() - start) * 1000)
rest = sorted(times[1:]) or times
print("memtls-bench", json.dumps({"first_ms": times[0], "median_ms": rest[len(rest) // 2],
                                  "min_ms": rest[0], "count": count}))
