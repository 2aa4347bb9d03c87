"""damage_h5.py — damage a dataset's stored values in place, as a disk or a copy might, for the
tests that check moatsim notices (resume.sh, sweep.sh).

Usage: damage_h5.py FILE DATASET [NBYTES]
Inverts the first NBYTES (default 1) bytes of DATASET's values where the file stores them:
  chunked     its first chunk (h5py's chunk info);
  contiguous  its data block (h5py's get_offset);
  compact     the values inside its object header: the layout message (version 3, class 0
              compact, 2-byte size, then the values; HDF5 file format spec, "Data Layout
              Message"), found after the header's address.
Prints the layout and the file offset damaged."""
import struct
import sys

import h5py
import numpy


def locate(path, name):
    with h5py.File(path, "r") as f:
        ds = f[name]
        layout = ds.id.get_create_plist().get_layout()
        if layout == h5py.h5d.CHUNKED:
            return "chunked", ds.id.get_chunk_info(0).byte_offset
        if layout == h5py.h5d.CONTIGUOUS:
            return "contiguous", ds.id.get_offset()
        raw = numpy.ascontiguousarray(ds[...]).tobytes()
        header = h5py.h5o.get_info(ds.id).addr
    with open(path, "rb") as fp:
        data = fp.read()
    message = b"\x03\x00" + struct.pack("<H", len(raw)) + raw
    at = data.find(message, header)
    if at < 0:
        sys.exit(f"damage_h5.py: the values of {name} are not in its object header")
    return "compact", at + len(message) - len(raw)


def main():
    path, name = sys.argv[1], sys.argv[2]
    nbytes = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    layout, off = locate(path, name)
    with open(path, "r+b") as fp:
        fp.seek(off)
        b = fp.read(nbytes)
        fp.seek(off)
        fp.write(bytes(x ^ 0xFF for x in b))
    print(f"{name}: {layout}, {len(b)} bytes inverted at offset {off}")


if __name__ == "__main__":
    main()
