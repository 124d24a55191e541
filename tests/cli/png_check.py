#!/usr/bin/env python3
"""png_check.py - asserts a screenshot is a real picture: a PNG of the expected width whose
pixels are not one flat colour.

Decodes the PNG with the standard library only (zlib and the five PNG row filters), so the test
needs no imaging package. Prints one line; exit 0 when the image holds at least MIN_COLOURS
distinct colours and at least MIN_INK of its pixels differ from the background (the most common
colour), 1 otherwise.
Usage: png_check.py FILE.png WIDTH
"""
import struct
import sys
import zlib

MIN_COLOURS = 16
MIN_INK = 0.03


def read_png(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, head = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            head = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
    width, height, depth, colour, _, _, interlace = head
    if depth != 8 or colour not in (2, 6) or interlace:
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {colour}")
    bpp = 3 if colour == 2 else 4
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b, c = prev[x], prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return width, height, bpp, rows


def main():
    path, want_width = sys.argv[1], int(sys.argv[2])
    width, height, bpp, rows = read_png(path)
    counts = {}
    for line in rows[::2]:  # every other row and pixel: plenty for a verdict, 4x faster
        for x in range(0, len(line), 2 * bpp):
            px = bytes(line[x:x + 3])
            counts[px] = counts.get(px, 0) + 1
    total = sum(counts.values())
    background = max(counts.values())
    ink = 1 - background / total
    ok = width == want_width and len(counts) >= MIN_COLOURS and ink >= MIN_INK
    print(f"{'ok' if ok else 'FAIL'} {path}: {width}x{height} (want width {want_width}), "
          f"{len(counts)} colours, {ink:.1%} of pixels off the background")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
