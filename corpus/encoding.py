"""Decoding bytes of Chinese text files: UTF-8 (with or without BOM), UTF-16 with BOM, GB18030/GBK, Big5.

Strict decodes are tried in that order; a candidate must look like real Chinese: the share of its
Chinese characters that are among the common ones must be high, which rejects Big5 bytes read as
GBK (they decode without error into rare characters). charset-normalizer is the last resort.
"""

from __future__ import annotations

import codecs

from charset_normalizer import from_bytes

from policyqa.text import CJK_CHARACTER, fold

# The most frequent Chinese characters of policy and legal text (simplified forms).
_COMMON = frozenset(
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而"
    "方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好"
    "应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向"
    "道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特"
    "件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处队"
    "南给色光门即保治北造百规热领七海口东导器压志世金增争济阶油思术极交受联什认六共权收证改清己美再采转更单风"
    "切打白教速花带安场身车例真务具万每目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况今集温传土许"
    "步群广石记需段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验连断深难近矿千周委素技备半办青省列"
    "习响约支般史感劳便团往历市克何除消构府称太准精值号率族维划选标写存候亲快效院查江型按格养易置派层片始却专"
    "状育厂京识适属包火住调满县局照参红细引听该价严创施审批款项依罚款违负责监督登记申请企营检测环境障护"
)
_MIN_COMMON_SHARE = 0.35
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_CANDIDATES = ("utf-8", "gb18030", "big5")


class UndecodableError(ValueError):
    """The bytes are not text in any supported encoding."""


def common_share(text: str) -> float:
    """Share of the Chinese characters of ``text`` (as simplified) that are common; 1.0 if none."""
    chinese = CJK_CHARACTER.findall(fold(text[:20_000]))
    if not chinese:
        return 1.0
    return sum(ch in _COMMON for ch in chinese) / len(chinese)


def decode_text(data: bytes) -> tuple[str, str]:
    """``(text, encoding)`` of ``data``; raises UndecodableError when nothing fits."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding
            except UnicodeDecodeError as error:
                raise UndecodableError(f"invalid {encoding} text: {error.reason}") from error
    best: tuple[float, str, str] | None = None
    for encoding in _CANDIDATES:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        share = common_share(text)
        if encoding == "utf-8" or share >= _MIN_COMMON_SHARE:
            return text, encoding  # valid UTF-8 with Chinese in it is practically never an accident
        if best is None or share > best[0]:
            best = (share, text, encoding)
    guess = from_bytes(data).best()
    if guess is not None and common_share(str(guess)) >= _MIN_COMMON_SHARE:
        return str(guess), guess.encoding
    if best is not None:
        return best[1], best[2]
    raise UndecodableError("not text in UTF-8, GB18030 or Big5")
