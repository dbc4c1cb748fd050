import codecs

import pytest

from policyqa.corpus.encoding import UndecodableError, decode_text
from policyqa.corpus.errors import DocumentError
from policyqa.corpus.loaders import load_text

SIMPLIFIED = "关于加快培育发展高新技术产业开发区的意见\n第一条 为了规范管理，制定本办法。"
TRADITIONAL = "關於加快培育發展高新技術產業開發區的意見\n第一條 為了規範管理，制定本辦法。"


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (SIMPLIFIED.encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF8 + SIMPLIFIED.encode("utf-8"), "utf-8-sig"),
        (SIMPLIFIED.encode("utf-16"), "utf-16"),
        (SIMPLIFIED.encode("gb18030"), "gb18030"),
        (SIMPLIFIED.encode("gbk"), "gb18030"),
    ],
)
def test_simplified_text_is_decoded(data, encoding):
    assert decode_text(data) == (SIMPLIFIED, encoding)


def test_big5_is_not_mistaken_for_gbk():
    data = TRADITIONAL.encode("big5")
    data.decode("gb18030")  # the trap: Big5 bytes are valid GB18030, just the wrong characters
    assert decode_text(data) == (TRADITIONAL, "big5")


def test_undecodable_bytes_raise():
    with pytest.raises(UndecodableError):
        decode_text(bytes(range(0x80, 0x100)) * 4)


def test_binary_and_empty_files_name_the_file(tmp_path):
    binary = tmp_path / "image.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200))
    empty = tmp_path / "empty.md"
    empty.write_bytes(b"  \n\n")
    for path, reason in ((binary, "binary file"), (empty, "empty file")):
        with pytest.raises(DocumentError) as caught:
            load_text(path)
        assert caught.value.path == path
        assert reason in str(caught.value)


def test_unsupported_and_missing_files(tmp_path):
    table = tmp_path / "table.xls"
    table.write_bytes(b"\xd0\xcf\x11\xe0 not a text format")
    with pytest.raises(DocumentError, match=r"unsupported file type '\.xls'"):
        load_text(table)
    with pytest.raises(DocumentError, match="no such file"):
        load_text(tmp_path / "missing.txt")
