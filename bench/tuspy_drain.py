#!/usr/bin/env python3
"""The benchmark's tuspy row: uploads every file listed in a JSON list through the proxy with
tuspy, resuming from the server's offset (HEAD) whenever a request fails. Prints JSON.

usage: tuspy_drain.py CREATION_URL TOKEN LIST.json CHUNK_BYTES
LIST.json: [{"path": ..., "submissionId": ..., "name": ..., "sha256": ...}, ...]
"""
import json, sys, time

from tusclient import client

url, token, listing, chunk = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
files = json.load(open(listing))
c = client.TusClient(url, headers={"Authorization": f"Bearer {token}"})
retries = 0
t0 = time.monotonic()
for f in files:
    meta = {"submissionId": f["submissionId"], "name": f["name"], "sha256": f["sha256"],
            "filename": f["name"], "filetype": "image/jpeg"}
    upload_url = None
    while True:
        try:
            if upload_url is None:
                u = c.uploader(f["path"], chunk_size=chunk, metadata=meta)
                u.set_url(u.create_url())
                upload_url = u.url
            else:
                u = c.uploader(f["path"], url=upload_url, chunk_size=chunk)   # HEAD: resume at the server's offset
            u.upload()
            break
        except Exception:
            retries += 1
            if retries > 100000:
                raise
            time.sleep(0.01)
print(json.dumps({"tuspy_seconds": time.monotonic() - t0, "tuspy_retries": retries}))
