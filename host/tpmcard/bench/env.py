"""Portable-environment throughput against raw AES-256-GCM in ``cryptography``, same data, same
run (``tpmcard bench --only env``).

* **pack**: :func:`tpmcard.services.env.format.encrypt_stream` (chunks with index/final nonces, the
  BLAKE3 image hash in a second thread, header and trailer) from a file to a file, against the
  raw baseline: the same file read in the same chunks, each sealed with ``AESGCM.encrypt`` under
  a counter nonce, written to a file.
* **launch**: :func:`tpmcard.services.env.format.decrypt_chunks` from the image into a memfd (what
  ``tpmcard env launch`` does after the unseal), against reading the baseline's ciphertext and
  ``AESGCM.decrypt`` into a memfd.

Ratio = tpmcard throughput / raw throughput (target at least 0.8). The card's part of a launch
(PCR 8 extend, handshake, unseal, PCR 9 extend: tens of milliseconds, whatever the size) is
left out: it does not depend on the data. The cipher alone in memory is printed for context.
"""

from __future__ import annotations

import os
import struct
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tpmcard.services.env.format import (
    DEFAULT_CHUNK_SIZE,
    TAG_SIZE,
    Header,
    decrypt_chunks,
    encrypt_stream,
    new_content,
)

POLICY = {"host_pcrs": [], "mtpm_pcrs": [], "launcher_pcr": 8, "image_pcr": 9}


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fastest(calls: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """The fastest of ``repeats`` runs of each, alternating the paths so that load from other
    work on the machine hits them alike (the minimum is the run least disturbed by it)."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: min(values) for name, values in times.items()}


def measure(
    size: int = 256 << 20, repeats: int = 3, directory: Path | None = None
) -> dict[str, Any]:
    chunk = DEFAULT_CHUNK_SIZE
    key = os.urandom(32)
    with tempfile.TemporaryDirectory(prefix="tpmcard-bench-env-", dir=directory) as tmp:
        base = Path(tmp)
        source, image, raw = base / "source", base / "image", base / "raw"
        block = os.urandom(chunk)
        with open(source, "wb") as out:
            for _ in range(size // chunk):
                out.write(block)
        header = Header(new_content("file", POLICY, chunk), {"card_id": "00", "sealed_key": "00"})
        aead = AESGCM(key)
        prefix = os.urandom(7)

        def pack() -> None:
            with open(source, "rb") as src, open(image, "wb") as out:
                encrypt_stream(src, out, header, key)

        def raw_pack() -> None:
            with open(source, "rb") as src, open(raw, "wb") as out:
                index = 0
                while data := src.read(chunk):
                    out.write(aead.encrypt(prefix + struct.pack(">IB", index, 0), data, None))
                    index += 1

        def launch() -> None:
            fd = os.memfd_create("bench-env", os.MFD_CLOEXEC)
            try:
                with open(image, "rb") as stream:
                    stream.seek(header.length)
                    for plain in decrypt_chunks(stream, header, key):
                        _write_all(fd, plain)
            finally:
                os.close(fd)

        def raw_launch() -> None:
            fd = os.memfd_create("bench-raw", os.MFD_CLOEXEC)
            try:
                with open(raw, "rb") as stream:
                    index = 0
                    while data := stream.read(chunk + TAG_SIZE):
                        nonce = prefix + struct.pack(">IB", index, 0)
                        _write_all(fd, aead.decrypt(nonce, data, None))
                        index += 1
            finally:
                os.close(fd)

        def cipher_only() -> None:
            for index in range(size // chunk):
                aead.encrypt(prefix + struct.pack(">IB", index, 0), block, None)

        pack()  # warm the page cache and the files
        raw_pack()
        seconds = _fastest(
            {
                "pack": pack,
                "raw_pack": raw_pack,
                "launch": launch,
                "raw_launch": raw_launch,
                "cipher_only": cipher_only,
            },
            repeats,
        )
    mb = size / 1e6
    rows = {}
    for name in ("pack", "launch"):
        ours, baseline = mb / seconds[name], mb / seconds[f"raw_{name}"]
        rows[name] = {"tpmcard_MB_s": ours, "raw_MB_s": baseline, "ratio": ours / baseline}
    return {
        "bytes": size,
        "chunk": chunk,
        "rows": rows,
        "cipher_only_MB_s": mb / seconds["cipher_only"],
        "target_ratio": 0.8,
    }
