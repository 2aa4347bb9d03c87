"""damage_h5.py — damage a dataset's stored values in place, as a disk or a copy might, for the
tests that check moatsim notices (resume.sh, sweep.sh).

Usage: damage_h5.py FILE DATASET [NBYTES]
Inverts the first NBYTES (default 1) bytes of DATASET's values where the file stores them:
  chunked     its first chunk (h5py's chunk info);
  contiguous  its data block (h5py's get_offset);
  compact     the values inside its object header: the layout message (version 3, class 0
              compact, 2-byte size, then the values; HDF5 file format spec, "Data Layout
              Message"), found after the header's address.
A dataset of variable-length strings stores, for each element, a 16-byte reference (length,
global heap collection address, object index); NBYTES of the first element's characters are
inverted where the global heap collection ("GCOL") holds them (file format spec, "Global Heap").
Prints the layout and the file offset damaged."""
import struct
import sys

import h5py
import numpy


def heap_object(data, ref):
    """The file offset of the characters a 16-byte variable-length reference points to."""
    length, collection, index = struct.unpack("<IQI", ref)
    if data[collection:collection + 4] != b"GCOL" or length == 0:
        sys.exit("damage_h5.py: the first string's reference does not point at a global heap")
    size = struct.unpack("<Q", data[collection + 8:collection + 16])[0]
    at = collection + 16
    while at < collection + size:
        obj, _, nbytes = struct.unpack("<HH4xQ", data[at:at + 16])
        if obj == index:
            return at + 16
        at += 16 + (nbytes + 7) // 8 * 8
    sys.exit("damage_h5.py: the first string is not in its global heap collection")


def locate(path, name):
    with h5py.File(path, "r") as f:
        ds = f[name]
        layout = ds.id.get_create_plist().get_layout()
        if h5py.check_string_dtype(ds.dtype) and h5py.check_string_dtype(ds.dtype).length is None:
            kind, at = (("chunked", ds.id.get_chunk_info(0).byte_offset) if layout == h5py.h5d.CHUNKED else
                        ("contiguous", ds.id.get_offset()) if layout == h5py.h5d.CONTIGUOUS else
                        ("compact", None))
            n, header = max(ds.size, 1), h5py.h5o.get_info(ds.id).addr
            with open(path, "rb") as fp:
                data = fp.read()
            if at is None:
                message = b"\x03\x00" + struct.pack("<H", 16 * n)
                at = data.find(message, header)
                if at < 0:
                    sys.exit(f"damage_h5.py: the references of {name} are not in its object header")
                at += len(message)
            return kind + " strings", heap_object(data, data[at:at + 16])
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
