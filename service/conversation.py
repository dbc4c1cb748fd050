"""Follow-up questions: the last user message read in the context of the conversation before it.

"那人才方面呢？", "这一条的适用对象是谁？", "上面说的文件是哪年发的？" mean nothing on their own. The
conversation is replayed turn by turn: each user question is either standalone (it starts a new topic)
or a follow-up — it opens with 那/还有/另外, ends with 呢, is very short, or points back with
这条/该项/上述/它 — and a follow-up is rewritten into a standalone question by rules:

* elliptical ("那人才方面呢？"): its focus takes the slot of the previous question's topic in that question's
  frame ("高新区对创新型孵化器有什么支持？" → "高新区对人才有什么支持？");
* deictic ("这一条的适用对象是谁？"): the pointer is replaced by what the previous answer cited (the clause's
  heading) or, failing that, by the previous topic;
* about the source ("这条是哪个文件规定的？"): what the previous answer cited is searched again.

A follow-up also keeps the conversation's document scope: the first document (and clause) the previous
assistant turn cites — found by the 《title》 and clause label that policyqa's answers, its 参考条款 lists
and the page's history carry — is searched alone. A question about the source ("这条是哪个文件规定的？",
"…是哪年发的？") is answered with that document's title, date, issuer and 文号 before the quotes.

With an upstream LLM, ``llm_condense`` asks it to condense the conversation into a standalone question
instead (the rules remain the fallback and still give the scope).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from policyqa.corpus.model import Clause, Document
from policyqa.indexer import PolicyIndex
from policyqa.indexer.errors import InvalidQueryError
from policyqa.indexer.records import Retrieval, SearchFilters
from policyqa.service.answers import DEFAULT_ASK_K, Answer, Answerer, ask
from policyqa.service.llm_client import LLMClient, LLMUnavailableError

SHORT_QUESTION_CHARS = 6  # a question this short (without punctuation) is read as a follow-up
CONDENSE_TURN_CHARS = 300  # each earlier turn is cut to this many characters in the condensing prompt

_LEAD = re.compile(r"^(?:那么|那|还有|另外|此外|再就是|再问一下|请问)[，,、\s]*")
_TAIL = re.compile(r"(?:这一块|这块|这方面|方面)?(?:呢|吗|啊|呀|嘛)?[？?。.!！\s]*$")
_PUNCTUATION = re.compile(r"[\s，,。.？?！!、：:；;“”\"'‘’（）()]")
_NOUN = r"(?:规定|条款|政策|措施|内容|文件|要求|办法|意见)"
_DEICTIC = re.compile(
    rf"这一?[条项款](?:{_NOUN})?|该[条项款](?:{_NOUN})?|[此本][条项款]|上述(?:{_NOUN})?"
    rf"|(?:上面|前面|刚才)(?:说的|提到的|讲的)?(?:{_NOUN})?|这(?:个|些)?{_NOUN}|该{_NOUN}|这方面|它们?"
)
_ASKS_FOR_SOURCE = re.compile(
    r"哪[个份部]?(?:文件|政策|法规|规定)|什么文件|出自|出处|哪一?年|什么时候(?:发|印发|出台|发布|制定)"
    r"|何时(?:发|印发|出台|发布)|(?:发布|印发|出台)(?:时间|日期)|发文(?:机关|单位|字号)|文号|哪个部门|谁(?:发布|制定|印发)"
)
# Question frames: the named group ``slot`` is the topic a follow-up's focus replaces, tried in order.
_FRAMES = (
    re.compile(
        r"^(?P<pre>.*?(?:对于|对|关于|针对|就))(?P<slot>[^，,。？?]+?)"
        r"(?P<post>(?:方面)?(?:有什么|有哪些|有何|是什么|是怎么|是如何|怎么|如何|怎样|给予|提供|可以|能够|能|的).*)$"
    ),
    re.compile(
        r"^(?P<pre>[^，,。？?]+?的)(?P<slot>[^，,。？?的]+?)"
        r"(?P<post>(?:是|有|怎么|如何|怎样|多少|几|哪些|什么|要|需要|应当).*)$"
    ),
    re.compile(
        r"^(?P<pre>)(?P<slot>[^，,。？?]+?)(?P<post>(?:有什么|有哪些|有何|是什么|怎么|如何|怎样|需要|应当).*)$"
    ),
)


@dataclass(frozen=True)
class Turn:
    """One message of a conversation (``role``: system, user or assistant)."""

    role: str
    content: str


@dataclass(frozen=True)
class Scope:
    """What an assistant turn cited first: a document and, when its label is found, a clause of it."""

    document: Document
    clause: Clause | None


@dataclass(frozen=True)
class FollowUp:
    """The question to search and answer: ``question`` is standalone; ``scope`` the document the
    conversation is about (searched alone) and ``asks_for_source`` whether the user asks which document
    (or when, by whom) — the answer then names it first."""

    asked: str
    question: str
    scope: Scope | None = None
    asks_for_source: bool = False

    @property
    def rewritten(self) -> bool:
        """Whether the question searched differs from the one asked."""
        return self.question != self.asked


@dataclass
class _State:
    """What the replay knows after each turn."""

    question: str | None = None  # the last standalone question
    topic: str | None = None  # the slot of its frame (or the last follow-up's focus)
    scope: Scope | None = None  # what the last assistant turn cited


Condense = Callable[[Sequence[Turn], str], str | None]


def check_conversation(turns: Sequence[Turn], *, max_messages: int, max_chars: int) -> None:
    """InvalidQueryError when a conversation is over the per-request bounds (the work of a request stays
    bounded whatever its history)."""
    if len(turns) > max_messages:
        raise InvalidQueryError(f"too many messages: {len(turns)} (the limit is {max_messages})")
    chars = sum(len(turn.content) for turn in turns)
    if chars > max_chars:
        raise InvalidQueryError(f"the messages hold {chars} characters (the limit is {max_chars})")


def split_conversation(turns: Sequence[Turn]) -> tuple[list[Turn], str]:
    """The turns before the last user message, and that message; InvalidQueryError when there is none."""
    last = next((i for i in range(len(turns) - 1, -1, -1) if turns[i].role == "user"), None)
    if last is None:
        raise InvalidQueryError("the messages hold no user message to answer")
    return list(turns[:last]), turns[last].content


def is_follow_up(question: str) -> bool:
    """Whether ``question`` needs the conversation: a lead (那, 还有…), a trailing 呢, a pointer (这条, 上述,
    它…) or very few characters."""
    content = _PUNCTUATION.sub("", question)
    return bool(
        _LEAD.match(question)
        or re.search(r"呢[？?。.!！\s]*$", question)
        or _DEICTIC.search(question)
        or len(content) <= SHORT_QUESTION_CHARS
    )


def focus_of(question: str) -> str:
    """The elliptical question's own content: ``那人才方面呢？`` → ``人才``."""
    return _TAIL.sub("", _LEAD.sub("", question.strip())).strip()


def frame(question: str) -> re.Match[str] | None:
    """The first frame ``question`` fits (its ``slot`` is the topic), or None."""
    stripped = question.strip()
    return next((match for pattern in _FRAMES if (match := pattern.match(stripped))), None)


def rewrite(question: str, previous: str | None, topic: str | None, scope: Scope | None) -> str:
    """``question`` made standalone from the previous standalone question, its topic and what the
    previous answer cited (rules only; the question itself when nothing is known)."""
    if previous is None:
        return question
    referent = scope.clause.heading if scope and scope.clause and scope.clause.heading else topic
    if _ASKS_FOR_SOURCE.search(question):
        # the source is the scope's document; what is searched is the clause it is asked about (the words
        # 哪年发的 occur in no clause and only dilute the search and its relevance)
        return referent or previous
    pointer = _DEICTIC.search(question)
    if pointer and referent:
        return question[: pointer.start()] + referent + question[pointer.end() :]
    if pointer:
        return question
    focus = focus_of(question)
    if not focus:
        return previous
    matched = frame(previous)
    if matched:
        return matched.group("pre") + focus + matched.group("post")
    return f"{focus} {previous}"


def scope_of(index: PolicyIndex, text: str) -> Scope | None:
    """The document whose title ``text`` names first and the first of its clauses whose own label
    (``（十二）发展创新型孵化器``, ``第四条``: the last element of its path) ``text`` contains; None when no
    indexed title is named."""
    named = [(text.find(doc.title), doc) for doc in index.documents() if doc.title and doc.title in text]
    if not named:
        return None
    _position, document = min(named, key=lambda pair: pair[0])
    labelled = [
        (text.find(label), clause)
        for clause in index.clauses_of(document.id)
        if (label := _own_label(clause)) and label in text
    ]
    clause = min(labelled, key=lambda pair: pair[0])[1] if labelled else None
    return Scope(document, clause)


def _own_label(clause: Clause) -> str:
    return (clause.path[-1] if clause.path else clause.number + clause.heading).strip()


def follow_up(
    index: PolicyIndex, history: Sequence[Turn], question: str, *, condense: Condense | None = None
) -> FollowUp:
    """``question`` read after ``history``: replayed turn by turn with the rules; ``condense`` (the LLM),
    when given, writes the standalone question instead of the rules, which remain its fallback."""
    state = _State()
    for turn in history:
        if turn.role == "user":
            _advance(state, turn.content)
        elif turn.role == "assistant":
            state.scope = scope_of(index, turn.content)
    if not is_follow_up(question) or state.question is None:
        return FollowUp(question, question)
    rewritten = rewrite(question, state.question, state.topic, state.scope)
    condensed = condense(history, question) if condense else None
    asks_for_source = bool(_ASKS_FOR_SOURCE.search(question)) and state.scope is not None
    return FollowUp(question, condensed or rewritten, state.scope, asks_for_source)


def _advance(state: _State, question: str) -> None:
    if state.question is not None and is_follow_up(question):
        state.question = rewrite(question, state.question, state.topic, state.scope)
        state.topic = focus_of(question) if not _DEICTIC.search(question) else state.topic
    else:
        state.question = question
        matched = frame(question)
        state.topic = matched.group("slot") if matched else None


def source_sentence(document: Document) -> str:
    """``出自《T》（江苏省人民政府，苏政发〔2018〕132号，2018-10-17 发布）。`` with the metadata known."""
    details = [
        part
        for part in (document.issuer, document.doc_number, f"{document.date} 发布" if document.date else None)
        if part
    ]
    return f"出自{document.cited_title}" + (f"（{'，'.join(details)}）" if details else "") + "。"


def ask_in_conversation(
    index: PolicyIndex,
    answerer: Answerer,
    question: str,
    history: Sequence[Turn] = (),
    *,
    condense: Condense | None = None,
    min_relevance: float | None = None,
    k: int = DEFAULT_ASK_K,
    filters: SearchFilters | None = None,
    home_region: str | None = None,
) -> tuple[Retrieval, Answer, FollowUp]:
    """``service.answers.ask`` for ``question`` read after ``history``: the standalone question is
    searched, inside the conversation's document unless ``filters`` name one; a question about the source
    gets the document's title and date first."""
    resolved = follow_up(index, history, question, condense=condense)
    if resolved.scope is not None and (filters is None or filters.document_id is None):
        filters = replace(filters or SearchFilters(), document_id=resolved.scope.document.id)
    retrieval, answer = ask(
        index,
        answerer,
        resolved.question,
        min_relevance=min_relevance,
        k=k,
        filters=filters,
        home_region=home_region,
    )
    if resolved.asks_for_source and resolved.scope is not None and not answer.no_answer:
        answer = replace(answer, text=source_sentence(resolved.scope.document) + answer.text)
    return retrieval, answer, resolved


CONDENSE_PROMPT = (
    "下面是用户与政策问答助手的对话，以及用户的最后一个问题。请结合对话，把最后一个问题改写成一个不依赖上下文、"
    "意思完整的独立问题（补全被省略的主题、用具体名称替换“这条”“上述”“它”等指代；如提到具体文件，写出文件名）。"
    "只输出改写后的问题，不要回答，不要解释。"
)


def llm_condense(client: LLMClient, max_chars: int) -> Condense:
    """A ``Condense`` asking ``client`` for the standalone question (at most ``max_chars`` characters);
    None, so that the rules decide, when the upstream fails or answers with something unusable."""

    def condense(history: Sequence[Turn], question: str) -> str | None:
        lines = [
            f"{'用户' if turn.role == 'user' else '助手'}：{turn.content[:CONDENSE_TURN_CHARS]}"
            for turn in history
            if turn.role in ("user", "assistant")
        ]
        prompt = "\n".join([*lines, f"最后的问题：{question}"])
        try:
            reply = client.complete(
                [{"role": "system", "content": CONDENSE_PROMPT}, {"role": "user", "content": prompt}],
                max_tokens=200,
            )
        except LLMUnavailableError:
            return None
        standalone = reply.strip().splitlines()[0].strip(" \"'“”「」") if reply.strip() else ""
        return standalone if 0 < len(standalone) <= max_chars else None

    return condense
