"""SEED: the documents' example programs, run as written (and around what they were run with)."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from suite.scenarios import seed as scenario
from fixtures.libc import PAGE_SIZE

# C strings from the command line or a source file: printable ASCII, no NUL.
C_TEXT = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E))


@st.composite
def t_mmap_cases(draw) -> scenario.TMmapCase:
    # t_mmap maps MEM_SIZE bytes of the file whatever its size: this host's page size only gives edges to try
    size = draw(st.sampled_from([1024, scenario.MEM_SIZE, scenario.MEM_SIZE + 1, PAGE_SIZE - 1, PAGE_SIZE, PAGE_SIZE + 1])
                | st.integers(scenario.MEM_SIZE, 3 * PAGE_SIZE))
    argument = st.none() | st.sampled_from(["hello", "goodbye", "", "123456789", "1234567890"]) | C_TEXT.filter(
        lambda s: len(s) <= 12)
    return scenario.TMmapCase(size, tuple(draw(st.lists(argument, min_size=1, max_size=5))))


@st.composite
def counter_cases(draw) -> scenario.CounterCase:
    n = draw(st.integers(1, 8))
    order = draw(st.permutations(["W"] * n + ["R"] * n))
    return scenario.CounterCase("".join(order), draw(st.sampled_from(["first", "late"])))


FLOAT32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
INT32 = st.integers(-(2 ** 31), 2 ** 31 - 1)
RECORD_TEXT = st.binary(max_size=40).map(lambda b: bytes(c % 95 + 0x20 for c in b))  # no NUL: strncpy'd as a C string


@st.composite
def record_cases(draw) -> scenario.RecordCase:
    layout = draw(st.sampled_from(["SensorRecord", "Record"]))
    first = draw(FLOAT32) if layout == "SensorRecord" else draw(INT32)
    second = draw(FLOAT32) if layout == "SensorRecord" else 0.0
    text = draw(st.sampled_from([b"", b"x" * 30, b"y" * 31, b"z" * 32]) | RECORD_TEXT)
    return scenario.RecordCase(layout, draw(INT32), first, second, text, draw(st.sampled_from(["same", "other"])))


NO_NUL_BYTES = st.binary(max_size=63).map(lambda b: bytes(c % 255 + 1 for c in b))


@st.composite
def private_demo_cases(draw) -> scenario.PrivateDemoCase:
    content = draw(NO_NUL_BYTES.filter(bool))
    modification = draw(st.sampled_from([b"", content[:1], b"M" * len(content), b"M" * 63]) | NO_NUL_BYTES)
    return scenario.PrivateDemoCase(content, modification)


@pytest.mark.claim("SEED-1")
@given(case=t_mmap_cases())
@example(case=scenario.DOC_T_MMAP)
def test_t_mmap_hello_then_goodbye_prints_and_leaves_goodbye(conformance, target, case):
    conformance.judge(scenario.judge_t_mmap_output, case, conformance.observe(scenario.run_t_mmap, conformance.workspace, case))


@pytest.mark.claim("SEED-2")
@given(case=counter_cases())
@example(case=scenario.DOC_COUNTER)
def test_shm_reader_sees_each_counter_value_shm_writer_stores(conformance, target, case):
    conformance.judge(scenario.judge_reader_sees_each_counter, case, conformance.observe(scenario.run_counter, conformance.workspace, case))


@pytest.mark.claim("SEED-3")
@given(case=record_cases())
@example(case=scenario.DOC_SENSOR)
@example(case=scenario.DOC_RECORD)
def test_struct_written_and_msynced_reads_back_through_read_only_mapping(conformance, target, case):
    conformance.judge(scenario.judge_record_reads_back, case, conformance.observe(scenario.run_record, conformance.workspace, case))


@pytest.mark.claim("SEED-4")
@given(case=private_demo_cases())
@example(case=scenario.DOC_PRIVATE_DEMO)
def test_private_mapping_demo_leaves_original_text_in_file(conformance, target, case):
    conformance.judge(scenario.judge_private_demo_file_unchanged, case,
                      conformance.observe(scenario.run_private_demo, conformance.workspace, case))


@pytest.mark.claim("SEED-5")
@given(case=st.builds(scenario.DoublingCase, st.integers(-100, 100) | st.integers(-(2 ** 30) + 1, 2 ** 30 - 1)
                      | st.sampled_from([0, -100, 100, 9, -9, 10])))
@example(case=scenario.DoublingCase(42))
def test_mmap_read_doubles_number_mmap_write_stored(conformance, target, case):
    conformance.judge(scenario.judge_number_doubled, case, conformance.observe(scenario.run_doubling, conformance.workspace, case))

