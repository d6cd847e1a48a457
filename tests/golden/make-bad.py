#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes tests/golden/bad/*.sbt and bad/MANIFEST: files every SBT reader must reject (or, for
the few marked OK, accept), each with the status it must report. Run from anywhere:

    python3 tests/golden/make-bad.py

Files are crafted with valid checksums wherever the point is another error, so each case tests
exactly one rule of docs/format/sbt.md. The base for the derived cases is all-kinds.sbt."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
BAD = os.path.join(HERE, "bad")
MAGIC = b"\x89SBT\r\n\x1a\n"
FOOTER = b"\x89SBTEND\n"

_T = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
    _T.append(c)


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = (crc >> 8) ^ _T[(crc ^ b) & 0xFF]
    return crc ^ 0xFFFFFFFF


def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def zz(v):
    return (v << 1) ^ (v >> 63) if v >= 0 else ((-v) << 1) - 1


def header(major=1, required=0, crc_ok=True):
    h = bytearray(MAGIC + struct.pack("<HHHHIII", 32, major, 0, 0, required, 0, 0))
    c = crc32c(bytes(h))
    h += struct.pack("<I", c if crc_ok else c ^ 1)
    return bytes(h)


def chunk(typ, payload, flags=0, size=None):
    h = typ + struct.pack("<IHH", len(payload) if size is None else size, flags, 0)
    return h + struct.pack("<I", crc32c(h + payload)) + payload


def info():
    p = b"producer=make-bad.py"
    return chunk(b"INFO", varint(5) + varint(0) + varint(0) + varint(len(p)) + p)


def strs(first, strings):
    return chunk(b"STRS", varint(first) + varint(len(strings)) +
                 b"".join(varint(len(s)) + s for s in strings))


def kernel_template(name=1, kind=1):
    # kind, mask (device|stream|name), device 0, stream 7, name, 14 kernel fields
    return bytes([kind]) + varint(0b1001010) + varint(0) + varint(7) + varint(name) + \
        b"".join(varint(v) for v in (128, 1, 1, 256, 1, 1, 0, 0, 0, 32, 0, 0, 0, 0))


def evtb(n=2, min_start=1000, span=100, templates=None, starts=(0, 10), durs=(5, 0),
         ntpl=None, col_lens=None, extra_start=b""):
    templates = templates if templates is not None else [kernel_template()]
    cols = [b"".join(varint(0) for _ in range(n)),                 # tpl
            bytes(n),                                             # flg: all ids zero
            b"".join(varint(s) for s in starts[:n]) + extra_start,  # start deltas
            b"".join(varint(zz(d)) for d in durs[:n]),            # dur deltas
            b"", b"", b"", b""]
    lens = col_lens if col_lens is not None else [len(c) for c in cols]
    body = varint(n) + varint(min_start) + varint(span) + bytes([0, 0])
    body += varint(len(templates) if ntpl is None else ntpl) + b"".join(templates)
    body += b"".join(varint(l) for l in lens) + b"".join(cols)
    return chunk(b"EVTB", body)


def chunks_of(data):
    """(offset, type, size) of each chunk of a valid file, stopping at the footer."""
    off, out = 32, []
    while off + 16 <= len(data) and data[off:off + 8] != FOOTER:
        typ = data[off:off + 4]
        size = struct.unpack_from("<I", data, off + 4)[0]
        out.append((off, typ, size))
        off += 16 + size
    return out


def main():
    base = open(os.path.join(HERE, "all-kinds.sbt"), "rb").read()
    cs = chunks_of(base)
    evtbs = [c for c in cs if c[1] == b"EVTB"]
    indx = [c for c in cs if c[1] == b"INDX"][0]
    good = header() + info() + strs(1, [b"k"])
    cases = []  # (name, bytes, status, mode, events)

    cases.append(("empty.sbt", b"", "EMPTY", "strict", None))
    cases.append(("not-sbt.sbt", b'{"traceEvents": []}\n', "BAD_MAGIC", "strict", None))
    cases.append(("newer-major.sbt", header(major=2) + base[32:], "VERSION", "strict", None))
    cases.append(("truncated-header.sbt", base[:20], "TRUNCATED", "strict", None))
    cases.append(("truncated-info.sbt", base[:40], "TRUNCATED", "recover", None))
    cut = evtbs[1][0] + 16 + evtbs[1][2] // 2
    cases.append(("truncated-chunk.sbt", base[:cut], "TRUNCATED", "strict", None))
    cases.append(("truncated-chunk.sbt", base[:cut], "OK", "recover", 24))
    flip = bytearray(base)
    flip[evtbs[0][0] + 16 + 5] ^= 0x40
    cases.append(("bad-chunk-crc.sbt", bytes(flip), "CHECKSUM", "strict", None))
    flip = bytearray(base)
    flip[14] ^= 1
    cases.append(("bad-header-crc.sbt", bytes(flip), "CHECKSUM", "strict", None))
    flip = bytearray(base)
    flip[-1] ^= 0x80
    cases.append(("bad-footer-crc.sbt", bytes(flip), "CHECKSUM", "strict", None))
    foot = bytearray(base[-32:])
    struct.pack_into("<Q", foot, 8, 1 << 40)
    struct.pack_into("<I", foot, 28, crc32c(bytes(foot[:28])))
    cases.append(("index-out-of-range.sbt", base[:-32] + bytes(foot), "CORRUPT", "strict", None))
    cases.append(("undefined-string.sbt", good + evtb(templates=[kernel_template(name=907)]),
                  "UNDEFINED", "recover", None))
    cases.append(("varint-overflow.sbt", header() + info() +
                  chunk(b"STRS", b"\xff" * 10 + b"\x01" + varint(0)), "OVERFLOW", "recover", None))
    cases.append(("absurd-chunk-size.sbt", header() + info() +
                  b"EVTB" + struct.pack("<IHHI", 0xFFFFFFF0, 0, 0, 0) + b"\0" * 64,
                  "TOO_LARGE", "recover", None))
    cases.append(("absurd-block-events.sbt", good +
                  chunk(b"EVTB", varint(1 << 40) + varint(0) + varint(0) + b"\0\0" + varint(1)),
                  "TOO_LARGE", "recover", None))
    cases.append(("info-not-first.sbt", header() + strs(1, [b"k"]) + info(), "CORRUPT", "recover",
                  None))
    cases.append(("strings-out-of-order.sbt", header() + info() + strs(5, [b"k"]), "CORRUPT",
                  "recover", None))
    cases.append(("bad-template-kind.sbt", good + evtb(templates=[kernel_template(kind=99)]),
                  "CORRUPT", "recover", None))
    cases.append(("start-outside-block.sbt", good + evtb(starts=(0, 5000)), "CORRUPT", "recover",
                  None))
    cases.append(("columns-mismatch.sbt", good + evtb(col_lens=[2, 2, 2, 2, 0, 0, 0, 1]),
                  "CORRUPT", "recover", None))
    cases.append(("column-trailing-bytes.sbt", good + evtb(n=1, starts=(0,), durs=(5,),
                                                              extra_start=varint(7)),
                  "CORRUPT", "recover", None))
    cases.append(("crafted-minimal.sbt", good + evtb(), "OK", "recover", 2))
    cases.append(("unknown-required-feature.sbt", header(required=0x80) + base[32:],
                  "UNSUPPORTED", "strict", None))
    cases.append(("unknown-chunk-flags.sbt", good + chunk(b"STRS", varint(2) + varint(0), flags=4),
                  "CORRUPT", "recover", None))
    # A file with a chunk type this reader does not know must still read (skipped).
    xtra = chunk(b"XTRA", b"from a later minor version")
    foot = bytearray(base[-32:])
    struct.pack_into("<Q", foot, 8, indx[0] + len(xtra))
    struct.pack_into("<I", foot, 28, crc32c(bytes(foot[:28])))
    cases.append(("unknown-chunk.sbt", base[:indx[0]] + xtra + base[indx[0]:-32] + bytes(foot),
                  "OK", "strict", 25))

    os.makedirs(BAD, exist_ok=True)
    for f in os.listdir(BAD):
        if f.endswith(".sbt"):
            os.unlink(os.path.join(BAD, f))
    lines = ["# file status mode [events]  (written by make-bad.py; checked by check-bad)"]
    for name, data, status, mode, events in cases:
        with open(os.path.join(BAD, name), "wb") as fh:
            fh.write(data)
        lines.append(f"{name} {status} {mode}" + (f" {events}" if events is not None else ""))
    with open(os.path.join(BAD, "MANIFEST"), "w") as fh:
        fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
