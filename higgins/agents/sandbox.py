"""PURE: the capsule sandbox's image: one 129-byte static x86-64 program that pauses forever
(what Kubernetes' pause container does), as a tar for Docker's image import. Built here so a
host needs no registry and no image of anyone's for capsules to work."""

from __future__ import annotations

import io
import struct
import tarfile

IMAGE = "higgins-sandbox:1"
COMMAND = "/pause"
_BASE = 0x400000
# loop: mov eax, 34 (pause); syscall; jmp loop
_CODE = bytes.fromhex("b822000000" "0f05" "ebf7")
_EHDR, _PHDR = 64, 56


def pause_program() -> bytes:
    """An ELF64 executable: one loadable read+execute segment holding the loop above."""
    size = _EHDR + _PHDR + len(_CODE)
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)  # 64-bit, little endian, SysV
    header = ident + struct.pack("<HHIQQQIHHHHHH", 2, 0x3E, 1, _BASE + _EHDR + _PHDR, _EHDR,
                                 0, 0, _EHDR, _PHDR, 1, 0, 0, 0)
    segment = struct.pack("<IIQQQQQQ", 1, 5, 0, _BASE, _BASE, size, size, 0x1000)
    return header + segment + _CODE


def image_tar() -> bytes:
    """A root filesystem holding only the program, for `docker import`."""
    program = pause_program()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(COMMAND.lstrip("/"))
        info.size, info.mode = len(program), 0o755
        tar.addfile(info, io.BytesIO(program))
    return buffer.getvalue()
