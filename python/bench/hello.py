"""Start-up cost: the smallest program that has ``ssl`` ready."""

import ssl

print("memtls-bench hello", ssl.OPENSSL_VERSION)
