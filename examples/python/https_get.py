import ssl, sys, urllib.request

context = ssl.create_default_context()  # the provider's system trust (+ memtls run --ca-file)
with urllib.request.urlopen(sys.argv[1], context=context) as response:
    print(response.status, response.headers["content-type"], len(response.read()), "bytes")
