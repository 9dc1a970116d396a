#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the binary seed inputs of tests/fuzz/corpus/ (docs/fuzz.md): valid
wire messages of every type, NBD handshakes and requests, IOARCBs with CDBs
of every opcode, kv store patch lists. The text seeds (lunspec, config) are
files of their own. Seeds are named seed-*; regression inputs (crashes that
were fixed) are named regress-* and are never rewritten here.

    tests/fuzz/make-seeds.py [CORPUS_DIR]     (default tests/fuzz/corpus)
"""
import os
import struct
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus")


def write(harness, name, data):
    d = os.path.join(ROOT, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


# ---- wire (fuzz_wire.c) -------------------------------------------------
RAW, FD, SIZE, CTX24, CTX32, RES32, NEWCONN = 1, 2, 4, 8, 16, 32, 64
OPEN, IOCTL, STATUS, LUN_MODE, CHECK, CTX_ERROR = 1, 2, 3, 4, 5, 6
ATTACH, UDIRECT, RELEASE, DETACH, VERIFY, RECOVER, MANAGE, UVIRTUAL, RESIZE, CLONE, \
    PROVISION, DEBUG, BOGUS = range(13)
WIRE_MAGIC = 0x46534C43


def rec(flags, op, sel, payload=b""):
    return struct.pack("<BBBH", flags, op, sel, len(payload)) + payload


def hdr(flags=0):
    return struct.pack("<HHHHQQ", 0, 0, 0, 0, flags, 0)


def u64s(*v):
    return b"".join(struct.pack("<Q", x) for x in v)


O_RDWR = 2
attach = rec(SIZE, IOCTL, ATTACH, hdr(O_RDWR) + u64s(4))
attach_dma = rec(SIZE, IOCTL, ATTACH, hdr(O_RDWR) + u64s(4, 0, 0, 0, 0, 0, 0, 65536))
open0 = rec(0, OPEN, 0, b"lun0")
write("wire", "open-attach-direct-release-detach",
      open0 + attach + rec(SIZE | CTX24, IOCTL, UDIRECT, hdr() + u64s(0)) +
      rec(SIZE | CTX24 | RES32, IOCTL, VERIFY, hdr() + u64s(0, 0)) +
      rec(SIZE | CTX24 | RES32, IOCTL, RELEASE, hdr() + u64s(0, 0)) +
      rec(SIZE | CTX24, IOCTL, DETACH, hdr() + u64s(0)))
write("wire", "virtual-resize-clone",
      open0 + attach_dma + rec(SIZE | CTX24, IOCTL, UVIRTUAL, hdr() + u64s(0, 65536 * 3)) +
      rec(SIZE | CTX24 | RES32, IOCTL, RESIZE, hdr() + u64s(0, 0, 65536)) +
      rec(SIZE | CTX24 | RES32, IOCTL, RESIZE, hdr() + u64s(0, 0, 65536 * 8)) +
      rec(SIZE | CTX24 | CTX32, IOCTL, CLONE, hdr() + u64s(0, 0)) +
      rec(SIZE | CTX24 | RES32, IOCTL, RELEASE, hdr() + u64s(0, 0)))
write("wire", "recover-ctx-error",
      open0 + attach + rec(SIZE | CTX32, IOCTL, RECOVER, hdr() + u64s(1, 0)) +
      rec(CTX24, CTX_ERROR, 0) + rec(SIZE | CTX32, IOCTL, RECOVER, hdr() + u64s(1, 0)) +
      rec(SIZE | CTX32, IOCTL, ATTACH, hdr(O_RDWR | (1 << 63)) + u64s(4, 0)))
write("wire", "manage-lun",
      open0 + rec(SIZE, IOCTL, MANAGE,
                  hdr(1 << 62) + bytes.fromhex("600a0b800026a5b40000000000000001")) +
      rec(SIZE, IOCTL, MANAGE, hdr(1 << 63) + bytes.fromhex("600a0b800026a5b40000000000000001")))
write("wire", "admin", rec(0, STATUS, 0) + rec(0, STATUS, 1) + rec(0, STATUS, 2) +
      rec(0, STATUS, 3) + rec(0, LUN_MODE, 0, b"lun1") + rec(0, LUN_MODE, 1, b"lun1") +
      rec(0, LUN_MODE, 0, b"600a0b800026a5b40000000000000001") + rec(0, LUN_MODE, 1, b"nosuch") +
      rec(0, CHECK, 0) + rec(0, CTX_ERROR, 5) + rec(0, 7, 0, b"x"))
write("wire", "legacy-lun", rec(0, OPEN, 0, b"lun1") + attach +
      rec(NEWCONN, OPEN, 0, b"ram:16M") + rec(0, OPEN, 0, b"lun0"))
write("wire", "open-errors", rec(0, IOCTL, ATTACH, hdr()) + rec(0, OPEN, 0, b"") +
      rec(0, OPEN, 0, b"nosuch") + rec(0, OPEN, 0, b"lun0\0x") + rec(FD, OPEN, 0, b"lun0") +
      rec(0, OPEN, 0, b"lun0") + rec(0, IOCTL, BOGUS, hdr()) +
      rec(0, IOCTL, PROVISION, hdr()) + rec(SIZE, IOCTL, DEBUG, hdr()) +
      rec(0, IOCTL, ATTACH, hdr(O_RDWR)))
msg = struct.pack("<IHHQiIII", WIRE_MAGIC, 1, STATUS, 0, 0, 0, 0, 0)
write("wire", "raw", rec(RAW, 0, 0, msg) + rec(RAW | FD, 0, 0, msg) +
      rec(RAW, 0, 0, struct.pack("<IHHQiIII", WIRE_MAGIC, 1, OPEN, 0, 0, 4, 0, 0) + b"lun0") +
      rec(RAW, 0, 0, struct.pack("<IHHQiIII", WIRE_MAGIC, 2, STATUS, 0, 0, 0, 0, 0)) +
      rec(RAW, 0, 0, struct.pack("<IHHQiIII", WIRE_MAGIC, 1, STATUS, 0, 0, 9, 0, 0)) +
      rec(RAW, 0, 0, b"CLSF"))

# ---- nbd (fuzz_nbd.c) ---------------------------------------------------
IHAVEOPT = 0x49484156454F5054
OPT_EXPORT_NAME, OPT_ABORT, OPT_LIST, OPT_STARTTLS, OPT_INFO, OPT_GO, OPT_STRUCTURED = 1, 2, 3, 5, 6, 7, 8
INFO_NAME, INFO_DESCRIPTION, INFO_BLOCK_SIZE = 1, 2, 3
REQ_MAGIC = 0x25609513
READ, WRITE, DISC, FLUSH, TRIM, CACHE, WZEROES, BLOCK_STATUS = 0, 1, 2, 3, 4, 5, 6, 7
FUA, NO_HOLE, DF, FAST_ZERO = 1, 2, 4, 16


def opt(o, data=b""):
    return struct.pack(">QII", IHAVEOPT, o, len(data)) + data


def go(o, name, infos=()):
    n = name.encode()
    return opt(o, struct.pack(">I", len(n)) + n + struct.pack(">H", len(infos)) +
               b"".join(struct.pack(">H", i) for i in infos))


def req(typ, offset=0, length=0, flags=0, cookie=1, data=b""):
    return struct.pack(">IHHQQI", REQ_MAGIC, flags, typ, cookie, offset, length) + data


requests = (req(READ, 0, 4096) + req(WRITE, 0, 4096, data=b"\xa5" * 4096, cookie=2) +
            req(READ, 513, 100, cookie=3) + req(WRITE, 4090, 10, data=b"x" * 10, cookie=4) +
            req(WRITE, 8192, 4096, FUA, data=b"\x5a" * 4096, cookie=5) + req(FLUSH, cookie=6) +
            req(TRIM, 8192, 8192, cookie=7) + req(WZEROES, 0, 8192, NO_HOLE, cookie=8) +
            req(WZEROES, 100, 5000, FAST_ZERO, cookie=9) + req(CACHE, 0, 65536, cookie=10) +
            req(READ, 0, 8192, DF, cookie=11) + req(READ, (1 << 20) - 4096, 8192, cookie=12) +
            req(BLOCK_STATUS, 0, 4096, cookie=13) + req(99, cookie=14) + req(DISC, cookie=15))
FLAGS = struct.pack(">I", 3)
write("nbd", "handshake-list-info-go", b"\0" + FLAGS + opt(OPT_LIST) +
      go(OPT_INFO, "lun0", (INFO_NAME, INFO_DESCRIPTION, INFO_BLOCK_SIZE, 9)) +
      go(OPT_GO, "lun0", (INFO_BLOCK_SIZE,)) + req(READ, 0, 512) + req(DISC))
write("nbd", "handshake-export-name", b"\0" + struct.pack(">I", 1) +
      opt(OPT_EXPORT_NAME, b"lun0") + req(READ, 0, 4096) + req(DISC))
write("nbd", "handshake-refusals", b"\0" + FLAGS + opt(42) + opt(OPT_STARTTLS) +
      opt(OPT_STRUCTURED, b"x") + go(OPT_GO, "busy") + go(OPT_GO, "nosuch") +
      go(OPT_INFO, "ro") + opt(OPT_INFO, b"\0\0\0\xff") + opt(OPT_LIST, b"x") + opt(OPT_ABORT))
write("nbd", "handshake-bad-flags", b"\0" + struct.pack(">I", 0x80000001))
write("nbd", "transmit", b"\x01" + requests)
write("nbd", "transmit-structured", b"\x03" + requests)
write("nbd", "transmit-readonly", b"\x05" + requests)
write("nbd", "transmit-bad-magic", b"\x01" + struct.pack(">IHHQQI", 0x12345678, 0, 0, 1, 0, 4096))

# ---- afu (fuzz_afu.c) ---------------------------------------------------
RES_HNDL, SUP_UNDERRUN, TMF, AFU_CMD, HOST_WRITE = 0x8000, 0x4000, 0x4, 0x2, 0x1


def cmd(cdb, flags=RES_HNDL, res=0, data_len=4096, data=0, route=0, lun=0, skew=0):
    cdb = cdb + bytes(16 - len(cdb))
    return (struct.pack("<BHIBIQB", route, flags, res, lun, data_len, data, 0) + cdb +
            bytes([skew]))


def be(fmt, *v):
    return struct.pack(">" + fmt, *v)


READ16 = lambda lba, n: b"\x88\0" + be("QI", lba, n) + b"\0\0"
WRITE16 = lambda lba, n: b"\x8a\0" + be("QI", lba, n) + b"\0\0"
READ10 = lambda lba, n: b"\x28\0" + be("IBH", lba, 0, n) + b"\0"
WRITE10 = lambda lba, n: b"\x2a\0" + be("IBH", lba, 0, n) + b"\0"
WSAME16 = lambda lba, n, unmap=0: b"\x93" + bytes([unmap << 3]) + be("QI", lba, n) + b"\0\0"
RCAP16 = b"\x9e\x10" + bytes(8) + be("I", 32) + b"\0\0"
INQ = lambda evpd, page, alloc: b"\x12" + bytes([evpd, page]) + be("H", alloc) + b"\0"
REPORT_LUNS = b"\xa0\0\0\0\0\0" + be("I", 256) + b"\0\0"
TUR = b"\0" * 6
SYNC10 = b"\x35" + bytes(9)
SYNC16 = b"\x91" + bytes(15)
UNMAP = b"\x42" + bytes(6) + be("H", 24) + b"\0"
unmap_param = be("HH", 22, 16) + bytes(4) + be("QI", 8, 4) + bytes(4)
CFG = bytes([0])
every = (cmd(WRITE16(0, 1)) + cmd(READ16(0, 1)) + cmd(WRITE10(1, 2), data_len=8192) +
         cmd(READ10(1, 2), data_len=8192) + cmd(WSAME16(4, 8)) + cmd(WSAME16(4, 8, 1)) +
         cmd(RCAP16, data_len=32) + cmd(INQ(0, 0, 96), data_len=96) +
         cmd(INQ(1, 0x00, 64), data_len=64) + cmd(INQ(1, 0x80, 64), data_len=64) +
         cmd(INQ(1, 0x83, 64), data_len=64) + cmd(INQ(1, 0xb0, 64), data_len=64) +
         cmd(INQ(1, 0xb2, 64), data_len=64) + cmd(REPORT_LUNS, data_len=256) +
         cmd(TUR, data_len=0) + cmd(SYNC10, data_len=0) + cmd(SYNC16, data_len=0) +
         cmd(UNMAP, data_len=24, data=0x8000) + cmd(b"\xff", data_len=0))
write("afu", "every-opcode-ioarrin", CFG + every)
write("afu", "every-opcode-sq", CFG + b"".join(
    bytes([1]) + every[i + 1:i + 38] for i in range(0, len(every), 38)))
write("afu", "virtual-handles", CFG + cmd(WRITE16(0, 4), res=2, data_len=16384) +
      cmd(READ16(65530, 12), res=2, data_len=49152) + cmd(READ16(0, 1), res=3) +
      cmd(READ16(0, 1), res=4) + cmd(WRITE16(0, 1), res=6) + cmd(READ16(0, 1), res=5) +
      cmd(WRITE16(0, 1), res=1) + cmd(READ16(255, 2), res=0, data_len=8192))
write("afu", "real-mode-and-afu-cmds", bytes([1 | 8]) + cmd(READ16(0, 1), flags=0, lun=1) +
      cmd(READ16(0, 1), flags=0, lun=5) + cmd(b"\xc0\x00", flags=AFU_CMD, data_len=0) +
      cmd(b"\xc0\x01", flags=AFU_CMD, data_len=0) + cmd(TUR, flags=RES_HNDL | TMF, data_len=0))
write("afu", "bad-eas-and-resets", bytes([2]) + cmd(READ16(0, 1), route=2, data=0x1000) +
      cmd(READ16(0, 1), route=2, data=(0x7e0000000000 + (256 << 10) - 100)) +
      cmd(READ16(0, 1), route=4, data=0x7e0000000000 + 0x2ff8) +
      cmd(WRITE16(0, 1), route=8 | 16) + cmd(READ16(0, 1), route=1 | 8) +
      cmd(READ16(0, 1), route=1, skew=0x85) + cmd(READ16(0, 1), route=32, res=0xffffffff))
# UNMAP with its parameter list (two descriptors) at the data area's start,
# on the physical handle and the virtual one; WRITE SAMEs, one past the end.
unmap2 = be("HH", 6 + 32, 32) + bytes(4) + be("QI", 8, 4) + bytes(4) + be("QI", 900, 10) + bytes(4)
write("afu", "unmap-params", bytes([64, len(unmap2)]) + unmap2 +
      cmd(b"\x42" + bytes(6) + be("H", len(unmap2)) + b"\0", data_len=len(unmap2), data=0) +
      cmd(b"\x42" + bytes(6) + be("H", len(unmap2)) + b"\0", data_len=len(unmap2), data=0, res=2) +
      cmd(WSAME16(0, 600), data=0) + cmd(WSAME16(1000, 100), data=0) +
      cmd(WSAME16(0, 70000), res=2, data=0))
write("afu", "garbage-queues", bytes([16 | 32]) + struct.pack("<QQQQ", 0x7e0000000008,
      0x7e0000000000, 1, 0x7e0000000000 + (1 << 30)) + cmd(READ16(0, 1)) +
      cmd(READ16(0, 1), route=1))

# ---- kv (fuzz_kv.c) -----------------------------------------------------
# Mode byte, then patches: u8 kind (1 = a block the store wrote, 2 = reseal,
# 4 = xor), u16 block, u16 offset, u8 len, bytes. The store is built by the
# harness; seed-intact and seed-intact-open are its unpatched image.
USED, RESEAL, XOR = 1, 2, 4
HDR = 40   # struct kv_blk_hdr


def patch(kind, block, off, data):
    return struct.pack("<BHHB", kind, block, off, len(data)) + data


def super_field(off, data):
    return patch(USED | RESEAL, 0, HDR + off, data) + patch(USED | RESEAL, 1, HDR + off, data)


write("kv", "intact", b"\0")
write("kv", "intact-open", b"\1")
write("kv", "super-torn", b"\1" + patch(USED | XOR, 0, 100, b"\xff" * 8))
write("kv", "super-both-torn", b"\1" + patch(USED | XOR, 0, 8, b"\1") + patch(USED | XOR, 1, 8, b"\1"))
write("kv", "super-seg-blocks-0", b"\1" + super_field(12, struct.pack("<I", 0)))
write("kv", "super-seg-blocks-huge", b"\1" + super_field(12, struct.pack("<I", 0x80000000)))
write("kv", "super-nsegs-huge", b"\1" + super_field(16, struct.pack("<Q", 1 << 40)))
write("kv", "super-ckpt-huge", b"\1" + super_field(36, struct.pack("<I", 0xffffffff)) +
      super_field(48, struct.pack("<Q", 1 << 62)))
write("kv", "super-log-beyond", b"\1" + super_field(64, struct.pack("<QQ", 1 << 50, 7)))
for i in range(2, 12):
    write("kv", "block%d-records" % i, b"\1" + patch(USED | RESEAL, i, HDR,
          struct.pack("<BBHIQII", 1, 0, 0xffff, 0xffffffff, 1 << 60, 0, 0)))
write("kv", "block-header-used", b"\1" + patch(USED | RESEAL, 3, 12, struct.pack("<H", 0xffff)))
write("kv", "block-next-loop", b"\1" + patch(USED | RESEAL, 4, 24, struct.pack("<Q", 4)))
# KV_META_PENDING (meta flags bits 1-15, header offset 14): a batch that says
# blocks before it were still on their way (a pipelined writer's), so an
# earlier batch is verified or the log ends there; up to the largest count.
for i, pending in ((3, 1), (5, 2), (7, 0x7fff), (9, 1)):
    write("kv", "block%d-pending" % i, b"\1" + patch(USED | RESEAL | XOR, i, 14,
          struct.pack("<H", pending << 1)))
write("kv", "pending-then-torn", b"\1" + patch(USED | RESEAL | XOR, 9, 14, struct.pack("<H", 2)) +
      patch(USED | XOR, 8, 200, b"\x5a"))
write("kv", "raw-damaged", b"\0" + patch(USED | XOR, 20, 0, b"\x5a" * 64) +
      patch(USED | XOR, 30, 100, b"\x5a"))
