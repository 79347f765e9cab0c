import ssl, sys, urllib.request

import memtls

context = ssl.create_default_context()  # the provider's system trust (+ memtls run --ca-file)
if len(sys.argv) > 2:  # a client certificate whose key the host holds (memtls run --identity)
    memtls.use_identity(context, sys.argv[2])
with urllib.request.urlopen(sys.argv[1], context=context) as response:
    print(response.status, response.headers["content-type"], len(response.read()), "bytes")
