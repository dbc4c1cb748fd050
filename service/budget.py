"""A request's time budget: ``POLICYQA_REQUEST_BUDGET_SECONDS`` from its arrival (time spent queued for a
slot included) for searching and answering. The work checks it between its steps — before and after the
search, between batches of sentence embeddings — and gives up with a 503 (``Retry-After``) once it is
spent, so an abandoned request stops costing CPU within one step.

The deadline travels with the request's context (a ``ContextVar``; FastAPI runs sync routes in a thread
with a copy of it), so the answerer protocol does not have to carry it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from policyqa.service.errors import BudgetExceededError


@dataclass(frozen=True)
class Deadline:
    """When (``time.monotonic()``) a request's budget of ``seconds`` runs out."""

    at: float
    seconds: float

    @classmethod
    def after(cls, seconds: float, start: float | None = None) -> Deadline:
        """The deadline ``seconds`` after ``start`` (default: now)."""
        return cls((time.monotonic() if start is None else start) + seconds, seconds)

    def remaining(self) -> float:
        """Seconds left (negative once spent)."""
        return self.at - time.monotonic()

    def check(self, step: str) -> None:
        """BudgetExceededError once the budget is spent; ``step`` says where the request gave up."""
        if time.monotonic() > self.at:
            raise BudgetExceededError(
                f"the request used up its time budget of {self.seconds:g} s ({step}); try again later"
            )


_current: ContextVar[Deadline | None] = ContextVar("policyqa_deadline", default=None)


@contextmanager
def within(deadline: Deadline | None) -> Iterator[None]:
    """Run the enclosed work under ``deadline`` (None: no budget, e.g. ``policyqa ask``)."""
    token = _current.set(deadline)
    try:
        yield
    finally:
        _current.reset(token)


def check_budget(step: str) -> None:
    """BudgetExceededError when the current request's budget is spent; nothing outside a request."""
    deadline = _current.get()
    if deadline is not None:
        deadline.check(step)


def remaining_budget() -> float | None:
    """Seconds left in the current request's budget (None outside a request or without a budget)."""
    deadline = _current.get()
    return None if deadline is None else deadline.remaining()
