"""Documents in, clauses out: loading, cleaning, metadata and clause segmentation of Chinese policy texts."""

from policyqa.corpus.parse import iter_document_files, parse_file, parse_paths

__all__ = ["iter_document_files", "parse_file", "parse_paths"]
