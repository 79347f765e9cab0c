"""Start-up cost: the smallest program that has ``ssl`` ready."""

import ssl

print("hello from", ssl.OPENSSL_VERSION)
