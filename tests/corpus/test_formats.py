"""The seed in other encodings and formats gives the same document and clauses; broken files fail."""

import re

import pytest

from policyqa.corpus import parse_file
from policyqa.corpus.errors import DocumentError


def _signature(parsed, squash_whitespace=False):
    def text(value):
        return re.sub(r"\s+", "", value) if squash_whitespace else value

    return (
        parsed.document.id,
        parsed.document.title,
        parsed.document.date,
        [(c.id, c.path, c.number, c.heading, text(c.text)) for c in parsed.clauses],
    )


@pytest.fixture(scope="module")
def seed_text(seed_path):
    return seed_path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def reference(seed_path):
    return parse_file(seed_path)


def test_gb18030_copy(tmp_path, seed_text, reference):
    copy = tmp_path / "seed-gb18030.txt"
    copy.write_bytes(seed_text.encode("gb18030"))
    assert _signature(parse_file(copy)) == _signature(reference)


def test_utf8_bom_and_crlf_copy(tmp_path, seed_text, reference):
    copy = tmp_path / "seed-bom.txt"
    copy.write_bytes(b"\xef\xbb\xbf" + seed_text.replace("\n", "\r\n").encode("utf-8"))
    assert _signature(parse_file(copy)) == _signature(reference)


def test_docx(tmp_path, seed_text, reference):
    import docx

    document = docx.Document()
    for line in seed_text.split("\n"):
        document.add_paragraph(line)
    path = tmp_path / "seed.docx"
    document.save(path)
    assert _signature(parse_file(path)) == _signature(reference)


def test_html(tmp_path, seed_text, reference):
    lines = "".join(f"<p>{line}</p>\n" for line in seed_text.split("\n"))
    path = tmp_path / "seed.html"
    path.write_text(
        f"<html><head><style>p {{}}</style></head><body>\n{lines}</body></html>", encoding="utf-8"
    )
    assert _signature(parse_file(path), squash_whitespace=True) == _signature(
        reference, squash_whitespace=True
    )


def test_pdf(tmp_path, seed_text, reference, cjk_font):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.add_font("cjk", fname=str(cjk_font))
    pdf.set_font("cjk", size=11)
    for line in seed_text.split("\n"):
        pdf.multi_cell(0, 6, line.replace("\xa0", " ") or " ", new_x="LMARGIN", new_y="NEXT")
    path = tmp_path / "seed.pdf"
    pdf.output(str(path))
    parsed = parse_file(path)
    assert _signature(parsed, squash_whitespace=True) == _signature(reference, squash_whitespace=True)
    assert parsed.document.references == reference.document.references


def _truncated(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data[: len(data) // 2])
    return path


def test_truncated_docx_and_pdf(tmp_path, seed_text, cjk_font):
    import docx
    from fpdf import FPDF

    document = docx.Document()
    document.add_paragraph(seed_text[:200])
    full_docx = tmp_path / "full.docx"
    document.save(full_docx)
    pdf = FPDF()
    pdf.add_page()
    pdf.add_font("cjk", fname=str(cjk_font))
    pdf.set_font("cjk", size=11)
    pdf.multi_cell(0, 6, seed_text[:300].replace("\xa0", " "))
    for path in (
        _truncated(tmp_path, "broken.docx", full_docx.read_bytes()),
        _truncated(tmp_path, "broken.pdf", bytes(pdf.output())),
    ):
        with pytest.raises(DocumentError) as caught:
            parse_file(path)
        assert caught.value.path == path


def test_text_renamed_as_docx_or_pdf(tmp_path):
    for name in ("fake.docx", "fake.pdf"):
        path = tmp_path / name
        path.write_text("这不是一个真正的文件。", encoding="utf-8")
        with pytest.raises(DocumentError, match=name):
            parse_file(path)
