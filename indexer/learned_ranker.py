"""The learned ranker: a LambdaMART model over the retrieval signals, trained on labelled questions.

Every hybrid candidate (the union of both retrievers' lists, ``depth`` deep each) gets a row of
``FEATURES``: its fused score and rank, its raw BM25 and dense scores and ranks (relative to the query's
best), how strongly its document is represented among the candidates, its length, and where it stands in
its document: how many clauses the document has, its article number and that number's share of the
document (a code's 第一条 states its purpose; questions are answered further in), and how often its article
was the answer to a train question (an article asked about often, such as 民法典 第五百七十七条 on breach
of contract, is likely to answer the next question of its kind; counted by document title and article
number, so every version of a law shares it). A LightGBM ``lambdarank`` model, trained by ``policyqa train
ranker`` on the train part of STARD's split, scores them; the model file holds those counts.

Those articles are also candidates of their own: the ``answered_candidates`` of them nearest the question
that the dense retriever did not rank (a general rule such as 民法典 第四百六十五条, "依法成立的合同，受法律
保护", is asked about in words far from its own) are appended below its ranking before fusion, so the place
rules treat them like any other candidate and the model decides whether they rise.

The model only learned what law articles look like (STARD's labels are articles of laws and regulations), so
it re-orders the clauses numbered as articles (第X条) among the places they hold in the fused ranking; any
other clause — a policy document's （十二） or 四、 — keeps its fused place, and the scores stay with the
places, so they still fall from top to bottom. Nor did it see a query naming an article or a 文号 (第24条,
〔2021〕45号: no STARD question does); such a look-up keeps the fused order, where BM25's exact match
leads. Measured in docs/decisions/2026-12-02-learned-ranker.md.

Dense scores are cosines of one embedding model, so a model file is trained for one embedding model id and
saved as ``resources/ranker/<model id>.json``; an index of another model keeps the fused order (with a
warning), like the relevance model.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from policyqa.indexer.errors import ModelLoadError
from policyqa.indexer.records import Ranking, SearchRequest
from policyqa.indexer.relevance import model_file
from policyqa.text import article_key, label_form, names_provision

if TYPE_CHECKING:
    import lightgbm

    from policyqa.indexer.catalogue import Catalogue
    from policyqa.indexer.records import SearchFilters
    from policyqa.indexer.settings import IndexSettings
    from policyqa.indexer.vector_store import VectorStore

FEATURES = (
    "fused",
    "fused_gap",
    "fused_rank_log",
    "bm25",
    "bm25_share",
    "bm25_rank_log",
    "dense",
    "dense_gap",
    "dense_rank_log",
    "document_top50_log",
    "document_best_rank_log",
    "document_dense_gap",
    "length_log",
    "document_clauses_log",
    "article_number_log",
    "article_position",
    "article_answers_log",
)
RANKER_FORMAT = 3
RANKER_DIR = Path(str(resources.files("policyqa.indexer") / "resources" / "ranker"))
DEFAULT_RANKER = "default"  # POLICYQA_RANKER_MODEL: the shipped file of the index's embedding model
DOCUMENT_WINDOW = 50  # "represented among the top 50 fused candidates"
PASSAGES_PER_CANDIDATE = 3  # passages searched per answered candidate wanted (a long clause has several)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RankerModel:
    """A trained LambdaMART model of ``FEATURES`` for indexes embedded with ``model_id``; ``depth`` is how
    many candidates each retriever ranked in training (and so must rank when the model scores)."""

    model_id: str
    depth: int
    booster: str  # LightGBM's text model
    provenance: dict[str, Any]  # the command, the questions, the measured metrics
    answers: dict[str, int] = field(default_factory=dict)  # answer_key → train questions it answered
    answered_candidates: int = 0  # how many answered articles nearest the question join the dense list

    def to_json(self) -> str:
        data = {
            "format": RANKER_FORMAT,
            "model_id": self.model_id,
            "features": list(FEATURES),
            "depth": self.depth,
            "provenance": self.provenance,
            "answers": dict(sorted(self.answers.items())),
            "answered_candidates": self.answered_candidates,
            "booster": self.booster,
        }
        return json.dumps(data, ensure_ascii=False, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str) -> RankerModel:
        """A model written by :meth:`to_json`; ValueError when it is not one of this version's."""
        data = json.loads(text)
        if data.get("format") != RANKER_FORMAT or tuple(data.get("features", ())) != FEATURES:
            raise ValueError(
                f"not a ranker of format {RANKER_FORMAT} over this version's {len(FEATURES)} features "
                "(train it again with `policyqa train ranker`)"
            )
        return cls(
            model_id=str(data["model_id"]),
            depth=int(data["depth"]),
            booster=str(data["booster"]),
            provenance=dict(data.get("provenance", {})),
            answers={str(key): int(count) for key, count in data["answers"].items()},
            answered_candidates=int(data["answered_candidates"]),
        )


def ranker_file(settings: IndexSettings, model_id: str) -> Path:
    """The model file ``POLICYQA_RANKER_MODEL`` names for an index of ``model_id``."""
    if settings.ranker_model == DEFAULT_RANKER:
        return model_file(model_id, RANKER_DIR)
    return Path(settings.ranker_model).expanduser()


def load_ranker(path: Path) -> RankerModel:
    """The ranker saved at ``path``; ModelLoadError with a one-line reason when it cannot be read."""
    try:
        return RankerModel.from_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ModelLoadError(f"ranker {path} is unusable: {error}") from None


def booster(model: RankerModel, path: Path) -> lightgbm.Booster:
    """The LightGBM booster of ``model`` (read from ``path``), checked to score ``FEATURES``; ModelLoadError
    when it cannot (LightGBM is imported here: only the learned stage needs it)."""
    lightgbm = _import_lightgbm()

    try:
        loaded = lightgbm.Booster(model_str=model.booster)
    except lightgbm.basic.LightGBMError as error:
        raise ModelLoadError(f"ranker {path} is unusable: {error}") from None
    if loaded.num_feature() != len(FEATURES):
        raise ModelLoadError(
            f"ranker {path} is unusable: it scores {loaded.num_feature()} features, not {len(FEATURES)}"
        )
    return loaded


@dataclass(frozen=True)
class ClauseFacts:
    """The features of every clause of an index version that no query changes, by clause row."""

    document: np.ndarray  # the row of its document
    length_log: np.ndarray
    document_clauses_log: np.ndarray
    article_number_log: np.ndarray  # 0 for a clause that is not an article
    article_position: np.ndarray
    is_article: np.ndarray

    @classmethod
    def of(cls, catalogue: Catalogue) -> ClauseFacts:
        """The facts of ``catalogue``'s clauses (~0.1 s for 73k clauses; once per index version)."""
        table = catalogue.clause_table
        document = catalogue.clause_documents
        sizes = np.bincount(document, minlength=len(catalogue.documents())).astype(np.float64)[document]
        numbers = np.fromiter(
            (article_number(number) or 0 for number in table.numbers), np.float64, len(table)
        )
        lengths = table.text_lengths.astype(np.float64)
        return cls(
            document=document,
            length_log=np.log1p(lengths),
            document_clauses_log=np.log1p(sizes),
            article_number_log=np.log1p(numbers),
            article_position=numbers / sizes,
            is_article=numbers > 0,
        )


_FACTS: weakref.WeakKeyDictionary[Catalogue, ClauseFacts] = weakref.WeakKeyDictionary()
_FACTS_LOCK = threading.Lock()


def clause_facts(catalogue: Catalogue) -> ClauseFacts:
    """The facts of ``catalogue``'s clauses, computed on first use and kept while the catalogue lives."""
    with _FACTS_LOCK:
        facts = _FACTS.get(catalogue)
        if facts is None:
            facts = _FACTS[catalogue] = ClauseFacts.of(catalogue)
        return facts


def candidate_features(
    ranking: Ranking,
    rankings: Mapping[str, Ranking],
    catalogue: Catalogue,
    depth: int,
    answers: np.ndarray,
) -> np.ndarray:
    """``len(ranking) × len(FEATURES)`` rows for the fused ``ranking``'s candidates, from the retrievers'
    ``rankings`` (each ``depth`` deep) and ``answers`` (by clause row: how many train questions its
    article answered, ``answer_counts``). A candidate one retriever did not find gets rank ``depth + 100``
    and that retriever's lowest score (BM25: 0; dense: its lowest cosine less 0.01); a clause that is not an
    article has article number 0. Computed column by column (numpy), the clauses' own facts looked up."""
    if not ranking:
        return np.empty((0, len(FEATURES)), dtype=np.float64)
    missing_rank = depth + 100
    bm25 = _positions(rankings.get("bm25", ()))
    dense = _positions(rankings.get("dense", ()))
    bm25_top = max((score for _rank, score in bm25.values()), default=0.0)
    dense_scores = [score for _rank, score in dense.values()]
    dense_top = max(dense_scores, default=0.0)
    dense_missing = min(dense_scores, default=0.0) - 0.01
    ids = [clause_id for clause_id, _score in ranking]
    rows = catalogue.clause_rows(ids)
    facts = clause_facts(catalogue)
    fused = np.array([score for _clause_id, score in ranking], dtype=np.float64)
    rank = np.arange(1, len(ranking) + 1, dtype=np.float64)
    bm25_rank, bm25_score = np.array([bm25.get(i, (missing_rank, 0.0)) for i in ids], dtype=np.float64).T
    dense_rank, cosine = np.array(
        [dense.get(i, (missing_rank, dense_missing)) for i in ids], dtype=np.float64
    ).T
    # each candidate's document: among the top 50, its best rank and its best cosine
    _documents, first, group = np.unique(facts.document[rows], return_index=True, return_inverse=True)
    in_window = np.bincount(group[:DOCUMENT_WINDOW], minlength=len(first))[group]
    best_dense = np.full(len(first), -np.inf)
    np.maximum.at(best_dense, group, cosine)
    columns = (
        fused,
        fused - fused[0],
        np.log(rank),
        bm25_score,
        bm25_score / bm25_top if bm25_top > 0 else np.zeros_like(bm25_score),
        np.log(bm25_rank),
        cosine,
        cosine - dense_top,
        np.log(dense_rank),
        np.log1p(in_window),
        np.log(first[group] + 1.0),
        best_dense[group] - dense_top,
        facts.length_log[rows],
        facts.document_clauses_log[rows],
        facts.article_number_log[rows],
        facts.article_position[rows],
        np.log1p(answers[rows]),
    )
    return np.column_stack(columns)


@functools.lru_cache(maxsize=8192)  # ~500 candidates a search; clause numbers repeat across documents
def article_number(number: str) -> int | None:
    """The article number of a clause numbered ``number`` (第二十四条之一 → 24); None when it is not an
    article (第X条), the kind of clause the ranker was trained on."""
    key = article_key(number)
    return None if key is None else int(key.split("-")[0])


def is_article(number: str) -> bool:
    """Is a clause numbered ``number`` an article (第X条), the kind of clause the ranker re-orders?"""
    return article_number(number) is not None


def answer_key(title: str, number: str) -> str | None:
    """The key an article is counted under as an answer: its document's title in label form and its
    article key (中华人民共和国民法典, 第五百七十七条 → "中华人民共和国民法典#577"); None for no article."""
    key = _article_key(number)
    return None if key is None else f"{_title_form(title)}#{key}"


# an index's 73k clauses have ~1.7k titles and a few thousand distinct numbers
_title_form = functools.lru_cache(maxsize=4096)(label_form)
_article_key = functools.lru_cache(maxsize=8192)(article_key)


def answer_keys(catalogue: Catalogue) -> list[str | None]:
    """Each clause row's ``answer_key``."""
    titles = [document.title for document in catalogue.documents()]
    return [
        answer_key(titles[document], number)
        for document, number in zip(catalogue.clause_documents, catalogue.clause_table.numbers, strict=True)
    ]


def answer_counts(keys: Sequence[str | None], answers: Mapping[str, int]) -> np.ndarray:
    """By clause row: how many train questions its article answered (``keys``: ``answer_keys``; ``answers``
    by ``answer_key``)."""
    return np.array([answers.get(key, 0) if key else 0 for key in keys], dtype=np.float64)


def answered_passages(catalogue: Catalogue, counts: np.ndarray) -> np.ndarray:
    """The passage ids (ascending) of the clauses that answered a question (``counts`` by clause row)."""
    ids = catalogue.clause_table.ids
    return catalogue.passages_of([ids[row] for row in np.flatnonzero(counts > 0)])


def answered_candidates(
    vectors: VectorStore,
    catalogue: Catalogue,
    vector: np.ndarray,
    dense: Ranking,
    answered: np.ndarray,
    count: int,
    filters: SearchFilters | None,
) -> Ranking:
    """The ``count`` clauses of the ``answered`` passages (ids, ascending) nearest ``vector`` that ``dense``
    does not hold and ``filters`` allow, best first, each with its best passage's cosine."""
    if count < 1 or not len(answered):
        return []
    allowed = np.setdiff1d(answered, catalogue.passages_of([clause_id for clause_id, _score in dense]))
    mask = catalogue.allowed_passages(filters)
    if mask is not None:
        allowed = allowed[mask[catalogue.passage_rows(allowed)]]
    passage_ids, scores = vectors.search(vector, PASSAGES_PER_CANDIDATE * count, allowed)
    return catalogue.fold_known(passage_ids, scores)[:count]


def widen_dense(
    vectors: VectorStore,
    catalogue: Catalogue,
    request: SearchRequest,
    rankings: Mapping[str, Ranking],
    answered: np.ndarray,
    count: int,
) -> Mapping[str, Ranking]:
    """``rankings`` with the ``count`` ``answered_candidates`` nearest the query appended to the dense
    ranking; unchanged without a dense ranking or for a look-up query (it keeps the fused order)."""
    dense = rankings.get("dense")
    if dense is None or names_provision(request.query.text):
        return rankings
    extra = answered_candidates(
        vectors, catalogue, request.query.vector, dense, answered, count, request.filters
    )
    return {**rankings, "dense": [*dense, *extra]} if extra else rankings


def reorder_articles(ranking: Ranking, scores: Sequence[float], articles: Sequence[bool]) -> Ranking:
    """``ranking`` with its articles sorted by ``scores`` (best first; ties keep the fused order) among the
    places articles hold; other clauses keep their place. Each place keeps its fused score."""
    moved = iter(
        sorted((position for position, article in enumerate(articles) if article), key=lambda p: -scores[p])
    )
    return [
        (ranking[next(moved) if article else position][0], score)
        for position, ((_clause_id, score), article) in enumerate(zip(ranking, articles, strict=True))
    ]


class LearnedReranker:
    """Re-stage ``learned``: re-orders the fused candidates' articles by the trained ranker of the index's
    embedding model; keeps the fused order when there is none (warning once at load)."""

    def __init__(self, settings: IndexSettings, catalogue: Catalogue, model_id: str, vectors: VectorStore):
        """Loads the ranker ``POLICYQA_RANKER_MODEL`` names for ``model_id`` (ModelLoadError when a named
        file cannot be used or belongs to another model); ``vectors`` are searched for its answered
        candidates."""
        self.catalogue = catalogue
        self.vectors = vectors
        path = ranker_file(settings, model_id)
        self.model: RankerModel | None = None
        self.depth = 0
        if settings.ranker_model == DEFAULT_RANKER and not path.is_file():
            logger.warning(
                "no learned ranker trained for this embedding model: hybrid search keeps the fused order; "
                "train one with `policyqa train ranker`",
                extra={"model": model_id},
            )
            return
        model = load_ranker(path)
        if model.model_id != model_id:
            raise ModelLoadError(
                f"ranker {path} was trained for model {model.model_id}; the index's model is {model_id} "
                "(set POLICYQA_RANKER_MODEL to a ranker of this model, or POLICYQA_RERANK=off)"
            )
        self.model = model
        self.depth = model.depth
        self._booster = booster(model, path)
        self._answers = answer_counts(answer_keys(catalogue), model.answers)
        self._answered = answered_passages(catalogue, self._answers)

    def widen(self, request: SearchRequest, rankings: Mapping[str, Ranking]) -> Mapping[str, Ranking]:
        """The dense ranking with the model's answered candidates appended (``widen_dense``)."""
        if self.model is None:
            return rankings
        return widen_dense(
            self.vectors, self.catalogue, request, rankings, self._answered, self.model.answered_candidates
        )

    def rerank(self, request: SearchRequest, ranking: Ranking, rankings: Mapping[str, Ranking]) -> Ranking:
        if self.model is None or len(ranking) < 2 or names_provision(request.query.text):
            return ranking
        rows = self.catalogue.clause_rows([clause_id for clause_id, _score in ranking])
        articles = clause_facts(self.catalogue).is_article[rows].tolist()
        if sum(articles) < 2:
            return ranking
        features = candidate_features(ranking, rankings, self.catalogue, self.depth, self._answers)
        scores = self._booster.predict(features, num_threads=1)
        return reorder_articles(ranking, scores, articles)


def _import_lightgbm() -> Any:
    """LightGBM without its optional pandas, scikit-learn, pyarrow and dask integrations, which a booster
    does not use and whose imports cost a server ~1 s of its cold start (LightGBM imports each only when
    installed; they are, for training). A process that imported LightGBM before keeps it as it is."""
    import sys

    if "lightgbm" in sys.modules:
        return sys.modules["lightgbm"]
    optional = [name for name in ("pandas", "sklearn", "pyarrow", "dask") if name not in sys.modules]
    for name in optional:
        sys.modules[name] = None  # type: ignore[assignment]  # "not installed" to LightGBM's compat
    try:
        import lightgbm
    finally:
        for name in optional:
            del sys.modules[name]
    return lightgbm


def _positions(ranking: Ranking) -> dict[str, tuple[int, float]]:
    return {clause_id: (rank, float(score)) for rank, (clause_id, score) in enumerate(ranking, start=1)}
