"""ELF-2 finds the dynamic loader by the name the program itself gives (PT_INTERP), whatever the architecture
calls it (ld-linux-x86-64.so.2, ld-linux-aarch64.so.1, ld64.so.2, ld64.so.1): a fixed pattern gave an error on
ppc64le."""

from __future__ import annotations

import os
import struct

import pytest

from suite.scenarios import elf


def elf_with_interpreter(interpreter: bytes, order: str, klass: int) -> bytes:
    """An ELF executable header, a PT_LOAD and a PT_INTERP program header, then the interpreter's path."""
    ident = b"\x7fELF" + bytes([klass, 1 if order == "<" else 2, 1]) + bytes(9)
    if klass == 2:
        header_size, entry_size = 64, 56
        header = ident + struct.pack(order + "HHIQQQIHHHHHH", 2, 0, 1, 0, header_size, 0, 0, header_size, entry_size, 2, 64, 0, 0)
        at = header_size + 2 * entry_size
        load = struct.pack(order + "IIQQQQQQ", 1, 5, 0, 0, 0, 0, 0, 0)
        interp = struct.pack(order + "IIQQQQQQ", 3, 4, at, 0, 0, len(interpreter) + 1, 0, 1)
    else:
        header_size, entry_size = 52, 32
        header = ident + struct.pack(order + "HHIIIIIHHHHHH", 2, 0, 1, 0, header_size, 0, 0, header_size, entry_size, 2, 40, 0, 0)
        at = header_size + 2 * entry_size
        load = struct.pack(order + "IIIIIIII", 1, 0, 0, 0, 0, 0, 5, 0)
        interp = struct.pack(order + "IIIIIIII", 3, at, 0, 0, len(interpreter) + 1, 0, 4, 1)
    return header + load + interp + interpreter + b"\0"


@pytest.mark.parametrize("order, klass, loader", [
    ("<", 2, b"/lib64/ld-linux-x86-64.so.2"),
    ("<", 2, b"/lib/ld-linux-aarch64.so.1"),
    ("<", 2, b"/lib64/ld64.so.2"),  # ppc64le
    (">", 2, b"/lib/ld64.so.1"),  # s390x
    ("<", 1, b"/lib/ld-linux.so.2"),  # i386
])
def test_the_interpreter_is_read_in_either_class_and_byte_order(tmp_path, order, klass, loader):
    program = tmp_path / "program"
    program.write_bytes(elf_with_interpreter(loader, order, klass))
    assert elf.program_interpreter(str(program)) == loader.decode()


def test_a_static_program_or_a_script_has_none(tmp_path):
    static = bytearray(elf_with_interpreter(b"/lib/ld.so", "<", 2))
    struct.pack_into("<I", static, 64 + 56, 4)  # the second program header becomes PT_NOTE
    (tmp_path / "static").write_bytes(static)
    (tmp_path / "script").write_bytes(b"#!/bin/sh\n")
    assert elf.program_interpreter(str(tmp_path / "static")) is None
    assert elf.program_interpreter(str(tmp_path / "script")) is None


def test_this_interpreter_s_loader_is_found_among_its_code_mappings():
    entry = elf.code_mapping(elf.maps_of(), "loader")
    assert entry is not None and entry["perms"] == "r-xp"
    assert os.path.basename(entry["path"]) == os.path.basename(os.path.realpath(elf.program_interpreter()))
