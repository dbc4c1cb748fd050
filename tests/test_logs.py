"""Structured logs: one logfmt line per record, a logged exception on the same line with where it arose."""

from __future__ import annotations

import logging
import sys

from policyqa.logs import LogfmtFormatter


def test_an_exception_is_named_on_the_same_line_with_where_it_was_raised() -> None:
    logger = logging.getLogger("policyqa.test-logs")
    try:
        {}["missing"]
    except KeyError:
        record = logger.makeRecord(
            logger.name,
            logging.ERROR,
            __file__,
            1,
            "index not loaded",
            (),
            exc_info=sys.exc_info(),
        )
    record.index_dir = "/data/idx"
    line = LogfmtFormatter().format(record)
    assert "\n" not in line
    assert 'msg="index not loaded"' in line and "index_dir=/data/idx" in line
    assert "exception=\"KeyError: 'missing'\"" in line and f"at={__file__}:" in line


def test_a_record_without_an_exception_has_no_exception_field() -> None:
    record = logging.makeLogRecord({"msg": "model loaded", "levelno": logging.INFO, "levelname": "INFO"})
    assert "exception=" not in LogfmtFormatter().format(record)
