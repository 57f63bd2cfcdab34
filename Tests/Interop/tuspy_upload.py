"""tuspy (an independent tus 1.0.0 client, from PyPI) uploading one file to the reference intake.

usage: tuspy_upload.py CREATION_URL TOKEN FILE SUBMISSION_ID NAME CHUNK_BYTES
Uploads two chunks, forgets everything but the upload URL (as after a crash), then resumes with
a fresh uploader from the server's offset. Prints JSON: {"url": ..., "resumedFrom": N, "size": N}.
tuspyserver-style servers want filename and filetype in the metadata; the intake wants
submissionId, name and sha256. All are sent.
"""
import hashlib
import json
import os
import sys

from tusclient import client

url, token, path, sid, name, chunk = sys.argv[1:7]
chunk = int(chunk)
data = open(path, "rb").read()
meta = {
    "submissionId": sid,
    "name": name,
    "sha256": hashlib.sha256(data).hexdigest(),
    "filename": name,
    "filetype": "image/jpeg",
}
c = client.TusClient(url, headers={"Authorization": f"Bearer {token}"})
first = c.uploader(path, chunk_size=chunk, metadata=meta)
first.upload_chunk()
first.upload_chunk()
upload_url = first.url
del first

resumed = c.uploader(path, url=upload_url, chunk_size=chunk)
resumed_from = resumed.offset
resumed.upload()
print(json.dumps({"url": upload_url, "resumedFrom": resumed_from, "size": os.path.getsize(path), "final": resumed.offset}))
