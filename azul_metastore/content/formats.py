"""Azul-style ``file_format`` and ``file_extension`` from libmagic's description and the first bytes.

Azul names file types the Assemblyline way (``executable/windows/pe32``, ``document/office/word``,
``code/javascript`` ...). We derive them from libmagic's text in three steps, first match wins:

1. ``_MAGIC_RULES``: a regular expression over libmagic's description (case-insensitive).
2. Container refinements libmagic misses on partial input: a ZIP whose first entries name
   ``[Content_Types].xml`` plus ``word/``, ``xl/`` or ``ppt/`` is OOXML Office.
3. For anything libmagic calls text: ``_CODE_RULES``, keyword heuristics over the first 64 KiB
   (libmagic recognises batch and shebang Python, but not JavaScript, VBScript or PowerShell).

Anything else is ``unknown`` with no extension. Raising ``IDENTIFY_VERSION`` tells consumers the
mapping changed (it is stored on every ``Datastream``).

======================================  =================================  =========
libmagic says (regex)                   file_format                        extension
======================================  =================================  =========
(header ``CART`` v1)                    archive/cart                       cart
(header ``\\xf0\\xf0.malpz_v``)         archive/malpz                      malpz
``PE32+ executable (DLL)``              executable/windows/dll64           dll
``PE32 executable (DLL)``               executable/windows/dll32           dll
``PE32+ executable``                    executable/windows/pe64            exe
``PE32 executable``                     executable/windows/pe32            exe
``MS-DOS executable``                   executable/windows/dos             exe
``ELF 64-bit ... shared object``        executable/linux/so64              so
``ELF 32-bit ... shared object``        executable/linux/so32              so
``ELF 64-bit``                          executable/linux/elf64             elf
``ELF 32-bit``                          executable/linux/elf32             elf
``Mach-O``                              executable/mach-o                  macho
``Microsoft Word 2007+``                document/office/word               docx
``Microsoft Excel 2007+``               document/office/excel              xlsx
``Microsoft PowerPoint 2007+``          document/office/powerpoint         pptx
CDF/OLE with Word / Excel / PowerPoint  document/office/word|excel|...     doc|xls|ppt
other CDF/OLE                           document/office/unknown            ole
``Rich Text Format``                    document/office/rtf                rtf
``PDF document``                        document/pdf                       pdf
``Zip archive`` (not OOXML)             archive/zip                        zip
``RAR archive``                         archive/rar                        rar
``7-zip archive``                       archive/7-zip                      7z
``tar archive``                         archive/tar                        tar
``gzip compressed``                     archive/gzip                       gz
``bzip2 compressed``                    archive/bzip2                      bz2
``XZ compressed``                       archive/xz                         xz
``pcap``                                network/tcpdump                    pcap
``PNG`` / ``JPEG`` / ``GIF`` / ``PC bitmap`` / ``TIFF`` / ``WebP`` / ``icon``  image/...  png ...
``DOS batch file``                      code/batch                         bat
``Python script``                       code/python                        py
``HTML document``                       code/html                          html
``shell script``                        code/shell                         sh
``JavaScript``                          code/javascript                    js
``XML``                                 code/xml                           xml
``JSON``                                text/json                          json
text + VBScript keywords                code/vbs                           vbs
text + PowerShell keywords              code/powershell                    ps1
text + JavaScript keywords              code/javascript                    js
text + Python keywords                  code/python                        py
other text                              text/plain                         txt
anything else                           unknown                            (none)
======================================  =================================  =========
"""

from __future__ import annotations

import re

__all__ = ["IDENTIFY_VERSION", "UNKNOWN", "file_format"]

IDENTIFY_VERSION = 1
UNKNOWN = "unknown"

_I = re.IGNORECASE

_MAGIC_RULES: list[tuple[re.Pattern[str], str, str | None]] = [
    (re.compile(r"^PE32\+ executable \(DLL\)", _I), "executable/windows/dll64", "dll"),
    (re.compile(r"^PE32 executable \(DLL\)", _I), "executable/windows/dll32", "dll"),
    (re.compile(r"^PE32\+ executable", _I), "executable/windows/pe64", "exe"),
    (re.compile(r"^PE32 executable", _I), "executable/windows/pe32", "exe"),
    (re.compile(r"^MS-DOS executable", _I), "executable/windows/dos", "exe"),
    (re.compile(r"^ELF 64-bit .*shared object", _I), "executable/linux/so64", "so"),
    (re.compile(r"^ELF 32-bit .*shared object", _I), "executable/linux/so32", "so"),
    (re.compile(r"^ELF 64-bit", _I), "executable/linux/elf64", "elf"),
    (re.compile(r"^ELF 32-bit", _I), "executable/linux/elf32", "elf"),
    (re.compile(r"^Mach-O", _I), "executable/mach-o", "macho"),
    (re.compile(r"^Microsoft Word 2007\+", _I), "document/office/word", "docx"),
    (re.compile(r"^Microsoft Excel 2007\+", _I), "document/office/excel", "xlsx"),
    (re.compile(r"^Microsoft PowerPoint 2007\+", _I), "document/office/powerpoint", "pptx"),
    (re.compile(r"^(Composite Document File|CDFV2).*\bWord\b", _I), "document/office/word", "doc"),
    (re.compile(r"^(Composite Document File|CDFV2).*\bExcel\b", _I), "document/office/excel", "xls"),
    (re.compile(r"^(Composite Document File|CDFV2).*\bPowerPoint\b", _I), "document/office/powerpoint", "ppt"),
    (re.compile(r"^(Composite Document File|CDFV2)", _I), "document/office/unknown", "ole"),
    (re.compile(r"^Rich Text Format", _I), "document/office/rtf", "rtf"),
    (re.compile(r"^PDF document", _I), "document/pdf", "pdf"),
    (re.compile(r"^Zip archive", _I), "archive/zip", "zip"),
    (re.compile(r"^RAR archive", _I), "archive/rar", "rar"),
    (re.compile(r"^7-zip archive", _I), "archive/7-zip", "7z"),
    (re.compile(r"tar archive", _I), "archive/tar", "tar"),
    (re.compile(r"^gzip compressed", _I), "archive/gzip", "gz"),
    (re.compile(r"^bzip2 compressed", _I), "archive/bzip2", "bz2"),
    (re.compile(r"^XZ compressed", _I), "archive/xz", "xz"),
    (re.compile(r"pcap(ng)? capture", _I), "network/tcpdump", "pcap"),
    (re.compile(r"^PNG image", _I), "image/png", "png"),
    (re.compile(r"^JPEG image", _I), "image/jpg", "jpg"),
    (re.compile(r"^GIF image", _I), "image/gif", "gif"),
    (re.compile(r"^PC bitmap", _I), "image/bmp", "bmp"),
    (re.compile(r"^TIFF image", _I), "image/tiff", "tiff"),
    (re.compile(r"^RIFF .*Web/P image", _I), "image/webp", "webp"),
    (re.compile(r"^MS Windows icon", _I), "image/icon", "ico"),
    (re.compile(r"^DOS batch file", _I), "code/batch", "bat"),
    (re.compile(r"Python script", _I), "code/python", "py"),
    (re.compile(r"^HTML document", _I), "code/html", "html"),
    (re.compile(r"shell script", _I), "code/shell", "sh"),
    (re.compile(r"^(JavaScript|Node\.js script)", _I), "code/javascript", "js"),
    (re.compile(r"^XML", _I), "code/xml", "xml"),
    (re.compile(r"^JSON (text )?data", _I), "text/json", "json"),
]

# Keyword heuristics for text libmagic leaves as plain text. Each rule needs `hits` distinct
# patterns to match, so one stray word ("function", "Dim") does not make prose into code.
_CODE_RULES: list[tuple[str, str, int, list[re.Pattern[bytes]]]] = [
    ("code/powershell", "ps1", 2, [
        re.compile(rb"\b(Invoke-Expression|Invoke-WebRequest|New-Object|Write-Host|Get-Item|Set-Item"
                   rb"|Start-Process|Get-ChildItem|ForEach-Object|Where-Object)\b", _I),
        re.compile(rb"\$[A-Za-z_][A-Za-z0-9_]*\s*=", _I),
        re.compile(rb"\[(System\.[A-Za-z.]+|Convert|Text\.Encoding)\]::", _I),
        re.compile(rb"-(ExecutionPolicy|EncodedCommand|NoProfile|WindowStyle)\b", _I),
        re.compile(rb"\bparam\s*\(", _I),
    ]),
    ("code/vbs", "vbs", 2, [
        re.compile(rb"^\s*Dim\s+\w+", _I | re.M),
        re.compile(rb"\bCreateObject\s*\(", _I),
        re.compile(rb"^\s*Set\s+\w+\s*=", _I | re.M),
        re.compile(rb"\bWScript\.", _I),
        re.compile(rb"^\s*(End (Sub|Function|If)|On Error Resume Next)", _I | re.M),
    ]),
    ("code/javascript", "js", 2, [
        re.compile(rb"\bfunction\s*\w*\s*\([^)]*\)\s*\{"),
        re.compile(rb"\b(var|let|const)\s+\w+\s*="),
        re.compile(rb"\b(document|window)\.\w+"),
        re.compile(rb"\b(eval|unescape|String\.fromCharCode|ActiveXObject)\s*\("),
        re.compile(rb"\breturn\b[^;\n]*;"),
    ]),
    ("code/python", "py", 2, [
        re.compile(rb"^\s*(import \w+|from [\w.]+ import )", re.M),
        re.compile(rb"^\s*def \w+\(.*\):\s*$", re.M),
        re.compile(rb"^\s*class \w+(\(.*\))?:\s*$", re.M),
        re.compile(rb"if __name__ == ['\"]__main__['\"]"),
    ]),
]

_TEXT = re.compile(r"\btext\b", _I)
_OOXML = [(b"word/", "document/office/word", "docx"), (b"xl/", "document/office/excel", "xlsx"),
          (b"ppt/", "document/office/powerpoint", "pptx")]


def _code_format(head: bytes) -> tuple[str, str] | None:
    sample = head[:65536]
    for fmt, ext, hits, patterns in _CODE_RULES:
        if sum(1 for p in patterns if p.search(sample)) >= hits:
            return fmt, ext
    return None


def file_format(magic: str, head: bytes) -> tuple[str, str | None]:
    """``(file_format, file_extension)`` for libmagic's description of a file and its first bytes."""
    # libmagic has no rule for the neutering formats; their headers are unambiguous
    if head[:4] == b"CART" and head[4:6] == b"\x01\x00":
        return "archive/cart", "cart"
    if head.startswith(b"\xf0\xf0.malpz_v"):
        return "archive/malpz", "malpz"
    for pattern, fmt, ext in _MAGIC_RULES:
        if pattern.search(magic):
            if fmt == "archive/zip" and b"[Content_Types].xml" in head[:65536]:
                for marker, ofmt, oext in _OOXML:
                    if marker in head[:65536]:
                        return ofmt, oext
            return fmt, ext
    if _TEXT.search(magic):
        return _code_format(head) or ("text/plain", "txt")
    return UNKNOWN, None
