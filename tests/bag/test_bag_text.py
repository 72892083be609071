"""read_text and to_textfiles against plain Python file reading."""
import bz2
import gzip
import lzma
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pardata
import pardata.bag as pdb

TEXT = "héllo wörld\nnaïve café ünïcode\n\nline with\ttab\n日本語 テキスト 日本語\nlast line no newline"


def python_lines(path, opener=open):
    with opener(path, "rt", encoding="utf-8") as f:
        return list(f)


def test_read_text_one_file_unicode(tmp_path):
    p = tmp_path / "a.txt"
    p.write_text(TEXT, encoding="utf-8")
    b = pdb.read_text(str(p))
    assert b.npartitions == 1
    assert b.compute(scheduler="sync") == python_lines(p)


def test_read_text_glob_and_list_keep_file_order(tmp_path):
    for i in range(3):
        (tmp_path / f"part-{i}.txt").write_text(f"file {i} a\nfile {i} b\n")
    expected = [f"file {i} {c}\n" for i in range(3) for c in "ab"]
    b = pdb.read_text(str(tmp_path / "part-*.txt"))
    assert b.npartitions == 3
    assert b.compute(scheduler="sync") == expected
    listed = pdb.read_text([tmp_path / "part-2.txt", str(tmp_path / "part-0.txt")])
    assert listed.compute(scheduler="sync") == expected[4:] + expected[:2]


def test_read_text_missing_files_fail_early(tmp_path):
    with pytest.raises(FileNotFoundError, match="no files match"):
        pdb.read_text(str(tmp_path / "*.nothing"))
    with pytest.raises(FileNotFoundError, match="no such file"):
        pdb.read_text(str(tmp_path / "absent.txt"))


@pytest.mark.parametrize("suffix, opener", [(".gz", gzip.open), (".bz2", bz2.open), (".xz", lzma.open)])
def test_read_text_compressed(tmp_path, suffix, opener):
    p = tmp_path / f"data.txt{suffix}"
    with opener(p, "wt", encoding="utf-8") as f:
        f.write(TEXT)
    b = pdb.read_text(str(p), blocksize=8)  # compressed files are never split
    assert b.npartitions == 1
    assert b.compute(scheduler="sync") == python_lines(p, opener)


def test_read_text_explicit_compression_and_errors(tmp_path):
    p = tmp_path / "noext"
    with gzip.open(p, "wt") as f:
        f.write("x\ny\n")
    assert pdb.read_text(str(p), compression="gzip").compute(scheduler="sync") == ["x\n", "y\n"]
    with pytest.raises(ValueError, match="unknown compression"):
        pdb.read_text(str(p), compression="zip")


def test_read_text_universal_newlines_and_include_path(tmp_path):
    p = tmp_path / "crlf.txt"
    p.write_bytes(b"a\r\nb\rc\nd")
    b = pdb.read_text(str(p), include_path=True)
    assert b.compute(scheduler="sync") == [(line, str(p)) for line in python_lines(p)]


@settings(max_examples=80)
@given(
    lines=st.lists(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=12), max_size=30),
    blocksize=st.integers(1, 60),
    crlf=st.booleans(),
)
def test_blocksize_never_loses_or_repeats_a_line(tmp_path_factory, lines, blocksize, crlf):
    eol = "\r\n" if crlf else "\n"
    text = eol.join(line.replace("\r", "").replace("\n", "") for line in lines)
    p = tmp_path_factory.mktemp("blocks") / "t.txt"
    p.write_bytes(text.encode("utf-8"))
    b = pdb.read_text(str(p), blocksize=blocksize)
    assert b.compute(scheduler="sync") == python_lines(p)


def test_blocksize_partitions_and_string_sizes(tmp_path):
    p = tmp_path / "big.txt"
    lines = [f"line {i} ünï\n" for i in range(1000)]
    p.write_text("".join(lines), encoding="utf-8")
    b = pdb.read_text(str(p), blocksize="1 kB")
    assert b.npartitions == -(-p.stat().st_size // 1000)
    assert b.compute(scheduler="threads") == lines
    with pytest.raises(ValueError, match="utf-16"):
        pdb.read_text(str(p), blocksize=100, encoding="utf-16")


def test_word_count_over_compressed_files(tmp_path):
    """The acceptance test of issue 7: a word count over several compressed files."""
    rng_words = ["alpha", "beta", "gamma", "délta", "ε", "日本"]
    texts = []
    for i, (suffix, opener) in enumerate([(".gz", gzip.open), (".bz2", bz2.open), (".xz", lzma.open),
                                          (".gz", gzip.open)]):
        text = "\n".join(" ".join(rng_words[(i * 7 + j * k) % 6] for k in range(j % 5)) for j in range(200))
        texts.append(text)
        with opener(tmp_path / f"words-{i}.txt{suffix}", "wt", encoding="utf-8") as f:
            f.write(text)
    expected = Counter(w for t in texts for w in t.split())
    b = pdb.read_text(str(tmp_path / "words-*"))
    counts = b.map(str.split).flatten().frequencies()
    for scheduler in ("sync", "threads", "processes"):
        assert dict(counts.compute(scheduler=scheduler)) == expected
    top = b.str.split().flatten().frequencies(sort=True).take(2)
    assert list(top) == expected.most_common(2)


def test_to_textfiles_round_trip(tmp_path):
    lines = ["ünï", "two", "", "four"]
    b = pdb.from_sequence(lines, npartitions=3)
    paths = b.to_textfiles(str(tmp_path / "out" / "*.txt.gz"), scheduler="sync")
    assert paths == [str(tmp_path / "out" / f"{i}.txt.gz") for i in range(3)]
    back = pdb.read_text(str(tmp_path / "out" / "*.txt.gz")).map(str.rstrip, "\n")
    assert back.compute(scheduler="sync") == lines
    # read_text lines end with "\n": written back unchanged, no blank lines added
    src = tmp_path / "src.txt"
    src.write_text("a\nb\nc\n")
    pdb.read_text(str(src)).to_textfiles(str(tmp_path / "copy"), scheduler="processes")
    assert (tmp_path / "copy" / "0.part").read_text() == "a\nb\nc\n"


def test_to_textfiles_options(tmp_path):
    b = pdb.from_sequence(["x", "y"], npartitions=2)
    delayed_writes = b.to_textfiles(str(tmp_path / "f-*.txt"), name_function=lambda i: f"{i:03d}",
                                    compute=False, last_endline=True)
    assert not list(tmp_path.iterdir())
    written = pardata.compute(*delayed_writes, scheduler="sync")
    assert [p for (p,) in written] == [str(tmp_path / "f-000.txt"), str(tmp_path / "f-001.txt")]
    assert (tmp_path / "f-000.txt").read_text() == "x\n"
    with pytest.raises(TypeError, match="writes strings"):
        pdb.from_sequence([1, 2], npartitions=1).to_textfiles(str(tmp_path / "n-*.txt"), scheduler="sync")
    with pytest.raises(ValueError, match="2 paths given for 3"):
        pdb.from_sequence([1, 2, 3], npartitions=3).to_textfiles(["a", "b"])
