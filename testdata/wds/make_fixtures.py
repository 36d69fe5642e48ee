#!/usr/bin/env python3
"""Writes the WebDataset shard fixtures of this folder with Python's
tarfile, the writer WebDataset's own ShardWriter uses, so that the tests
read shards no code of this repository wrote.

  good/       two shards of seven samples (<key>.jpg, <key>.cls, and a
              .json for one), PAX format as tarfile writes by default,
              padded to tarfile's 10,240-byte records, with a directory
              entry, and one sample whose names are longer than a USTAR
              header holds; index.json names the shards and
              manifest.json lists each sample's key, class, and its
              image's size and SHA-256.
  bad/        truncated.tar (cut mid-member), badsum.tar (a header whose
              checksum fails), oversize.tar (a member whose header claims
              more bytes than the shard holds), and index-missing.json
              (an index naming a shard that is not there).

Run from this folder: python3 make_fixtures.py. Deterministic: the same
inputs make the same bytes.
"""
import hashlib
import io
import json
import os
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
LONG = "val/" + "a-directory-name-long-enough-that-ustar-cannot-hold-it/" * 2 + "n00000007"


def key(i):
    return LONG if i == 7 else "val/n%08d" % i


def add(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 1262304000
    info.mode = 0o644
    info.uname = info.gname = "wds"
    tar.addfile(info, io.BytesIO(data))


def shard(samples):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        d = tarfile.TarInfo("val")
        d.type = tarfile.DIRTYPE
        d.mtime = 1262304000
        d.mode = 0o755
        tar.addfile(d)
        for i in samples:
            with open(os.path.join(HERE, "src", "n%08d.jpg" % i), "rb") as f:
                img = f.read()
            add(tar, key(i) + ".jpg", img)
            add(tar, key(i) + ".cls", str(100 + i).encode())
            if i == 3:
                add(tar, key(i) + ".json", json.dumps({"label": 103}).encode())
    return buf.getvalue()


def main():
    os.makedirs(os.path.join(HERE, "good"), exist_ok=True)
    os.makedirs(os.path.join(HERE, "bad"), exist_ok=True)
    names = ["imagenet-val-000000.tar", "imagenet-val-000001.tar"]
    parts = [[1, 2, 3, 4], [5, 6, 7]]
    manifest = []
    for name, samples in zip(names, parts):
        data = shard(samples)
        with open(os.path.join(HERE, "good", name), "wb") as f:
            f.write(data)
        for i in samples:
            with open(os.path.join(HERE, "src", "n%08d.jpg" % i), "rb") as f:
                img = f.read()
            manifest.append({"shard": name, "key": key(i), "cls": 100 + i,
                             "size": len(img), "sha256": hashlib.sha256(img).hexdigest()})
    with open(os.path.join(HERE, "good", "index.json"), "w") as f:
        json.dump(names, f, indent=1)
        f.write("\n")
    with open(os.path.join(HERE, "good", "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")

    good = shard([1, 2])
    # Cut in the middle of the second sample's image.
    with open(os.path.join(HERE, "bad", "truncated.tar"), "wb") as f:
        f.write(good[:4096 + 300])
    # The first member's header (after the directory entry's) with one
    # byte of its name changed, so its checksum fails.
    bad = bytearray(good)
    bad[512 + 10] ^= 0x20
    with open(os.path.join(HERE, "bad", "badsum.tar"), "wb") as f:
        f.write(bytes(bad))
    # A member claiming a megabyte in a shard of a few kilobytes: its
    # header says so, and its checksum agrees.
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        add(tar, "val/n00000001.jpg", b"x" * 1000)
    over = bytearray(buf.getvalue())
    size = b"%011o\x00" % (1 << 20)
    over[124:136] = size
    over[148:156] = b"        "
    chk = sum(over[0:512])
    over[148:156] = b"%06o\x00 " % chk
    with open(os.path.join(HERE, "bad", "oversize.tar"), "wb") as f:
        f.write(bytes(over))
    with open(os.path.join(HERE, "bad", "index-missing.json"), "w") as f:
        json.dump(["imagenet-val-000000.tar", "imagenet-val-000009.tar"], f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
