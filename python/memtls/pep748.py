"""PEP 748 (tlslib) implementation on memtls: being written."""
