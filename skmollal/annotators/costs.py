"""What LLM calls cost: calls, tokens, wall seconds and, with prices, money.

One *call* is one text annotated by one LLM (what the loop counts as an LLM call), however
many requests or samples the backend needs for it. Every backend reports per text:

* :class:`~skmollal.annotators.local.TransformersAnnotator`: the prompt's tokens as the
  tokenizer counts them, and the generated tokens in ``vote_mode="generate"`` (0 in
  ``"sample"`` mode, which generates nothing);
* :class:`~skmollal.annotators.openai.OpenAICompatibleAnnotator`: the server's ``usage``
  (prompt and completion tokens, summed over the requests of a text);
* any other annotator (recorded, fake, your own): calls only; its tokens are marked *not
  counted* (``tokens_counted=False``) rather than guessed.

Seconds are the wall-clock time of the ``annotate`` call, split evenly over its texts.

:class:`CallCost` is that additive record; :class:`AnnotatorCost` pairs what an annotator
*paid* with what the cache *saved* (the original cost of the annotations it served);
:class:`Price` turns a cost into money. Costs travel on
:attr:`AnnotationResult.costs <skmollal.annotators.base.AnnotationResult>` (one per text) and
are stored in the annotation cache with each annotation.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Mapping, Sequence

__all__ = ["CallCost", "AnnotatorCost", "Price", "row_costs", "timed_annotate", "parse_numbers",
           "price_for", "parse_prices", "add_cost_dicts", "sum_cost_dicts", "cost_names"]


def parse_numbers(spec: str, known: Sequence[str], what: str) -> dict[str, float]:
    """``"KEY=NUMBER,KEY=NUMBER"`` as a dict (the command line's prices, budgets and rules).

    Parameters
    ----------
    spec : str
        The comma-separated pairs.
    known : sequence of str
        The keys allowed.
    what : str
        What is parsed, for the error message (``"price"``, ``"budget"``, ...).

    Raises
    ------
    ValueError
        On a part that is not ``KEY=NUMBER`` with a known key; the message lists the keys.
    """
    values: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in str(spec).split(","))):
        key, sep, value = (x.strip() for x in part.partition("="))
        if not sep or key not in known:
            raise ValueError(f"{what} {spec!r}: {part!r} is not KEY=NUMBER with KEY one of "
                             f"{', '.join(known)}")
        try:
            values[key] = float(value)
        except ValueError:
            raise ValueError(f"{what} {spec!r}: {value!r} is not a number") from None
    return values


@dataclass(frozen=True)
class Price:
    """What one LLM call costs in money (any currency; the user's unit).

    Parameters
    ----------
    per_call : float, default=0.0
        Price of one call (one text annotated by one LLM).
    per_prompt_token, per_completion_token : float, default=0.0
        Price per prompt (input) and completion (output) token.
    per_second : float, default=0.0
        Price per wall-clock second of annotation (a rented GPU's hourly rate / 3600).

    Examples
    --------
    >>> Price.parse("per_call=0.001,per_token=2e-6")
    Price(per_call=0.001, per_prompt_token=2e-06, per_completion_token=2e-06, per_second=0.0)
    """

    per_call: float = 0.0
    per_prompt_token: float = 0.0
    per_completion_token: float = 0.0
    per_second: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, (int, float)) or not value >= 0:
                raise ValueError(f"Price: {f.name} must be a number >= 0, got {value!r}")

    @classmethod
    def parse(cls, spec: str) -> "Price":
        """A price from ``"per_call=X,per_token=Y,..."`` (``per_token`` sets both token prices).

        Raises
        ------
        ValueError
            On an unknown field or a value that is not a number >= 0.
        """
        given = parse_numbers(spec, [f.name for f in fields(cls)] + ["per_token"], "price")
        if "per_token" in given:
            number = given.pop("per_token")
            given = {"per_prompt_token": number, "per_completion_token": number, **given}
        values = given
        if not values:
            raise ValueError(f"price {spec!r} names no price")
        return cls(**values)


@dataclass(frozen=True)
class CallCost:
    """What some LLM calls cost (additive: ``a + b``).

    Parameters
    ----------
    calls : int, default=0
        Texts annotated (one LLM each).
    prompt_tokens, completion_tokens : int, default=0
        Tokens read and generated.
    seconds : float, default=0.0
        Wall-clock seconds.
    tokens_counted : bool, default=True
        False when the backend does not count tokens (recorded or fake annotators, a server
        without ``usage``): the token fields are then 0 or a lower bound, not a count. A sum
        is counted only if all its parts are.
    """

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    tokens_counted: bool = True

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: "CallCost") -> "CallCost":
        if not isinstance(other, CallCost):
            return NotImplemented
        return CallCost(self.calls + other.calls, self.prompt_tokens + other.prompt_tokens,
                        self.completion_tokens + other.completion_tokens,
                        self.seconds + other.seconds,
                        self.tokens_counted and other.tokens_counted)

    def money(self, price: Price | None) -> float:
        """Money these calls cost at ``price`` (0.0 without a price)."""
        if price is None:
            return 0.0
        return (self.calls * price.per_call + self.prompt_tokens * price.per_prompt_token
                + self.completion_tokens * price.per_completion_token
                + self.seconds * price.per_second)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-friendly dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "CallCost":
        """Inverse of :meth:`to_dict`; ``None`` or ``{}`` is one call of unknown cost."""
        if not data:
            return cls(calls=1, tokens_counted=False)
        return cls(int(data.get("calls", 1)), int(data.get("prompt_tokens", 0)),
                   int(data.get("completion_tokens", 0)), float(data.get("seconds", 0.0)),
                   bool(data.get("tokens_counted", False)))


#: Keys of :meth:`AnnotatorCost.to_dict`, paid first, then what the cache saved.
COST_KEYS = ("calls", "prompt_tokens", "completion_tokens", "seconds", "money",
             "tokens_counted", "cached_calls", "cached_prompt_tokens",
             "cached_completion_tokens", "cached_seconds", "cached_money")


@dataclass(frozen=True)
class AnnotatorCost:
    """One annotator's cost: what it paid, and what the cache served (the saving).

    Parameters
    ----------
    paid : CallCost
        Calls the annotator really made.
    cached : CallCost
        Original cost of the annotations served from the cache (or duplicates of a text
        annotated in the same call): what the cache saved.
    """

    paid: CallCost = field(default_factory=CallCost)
    cached: CallCost = field(default_factory=CallCost)

    @property
    def total(self) -> CallCost:
        """What everything would have cost without the cache."""
        return self.paid + self.cached

    def __add__(self, other: "AnnotatorCost") -> "AnnotatorCost":
        if not isinstance(other, AnnotatorCost):
            return NotImplemented
        return AnnotatorCost(self.paid + other.paid, self.cached + other.cached)

    @classmethod
    def from_rows(cls, costs: Sequence[CallCost], from_cache: Sequence[bool] | None = None
                  ) -> "AnnotatorCost":
        """Sum per-text costs, splitting the rows served from the cache from the paid ones."""
        flags = [False] * len(costs) if from_cache is None else [bool(c) for c in from_cache]
        paid, cached = CallCost(), CallCost()
        for cost, hit in zip(costs, flags):
            if hit:
                cached = cached + cost
            else:
                paid = paid + cost
        return cls(paid, cached)

    def to_dict(self, price: Price | None = None) -> dict[str, Any]:
        """Flat JSON-friendly record (keys :data:`COST_KEYS`), money at ``price``."""
        out = {k: v for k, v in self.paid.to_dict().items()}
        out["money"] = self.paid.money(price)
        out["tokens_counted"] = self.paid.tokens_counted and self.cached.tokens_counted
        for k, v in self.cached.to_dict().items():
            if k != "tokens_counted":
                out[f"cached_{k}"] = v
        out["cached_money"] = self.cached.money(price)
        return {k: out[k] for k in COST_KEYS}


def add_cost_dicts(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> dict[str, Any]:
    """Sum two flat cost records (:meth:`AnnotatorCost.to_dict`); ``tokens_counted`` is ANDed.

    Parameters
    ----------
    a, b : dict or None
        The records (None or ``{}``: nothing).

    Returns
    -------
    dict
    """
    a, b = a or {}, b or {}
    return {k: (bool(a.get(k, True)) and bool(b.get(k, True))) if k == "tokens_counted"
            else a.get(k, 0) + b.get(k, 0) for k in COST_KEYS}


def sum_cost_dicts(records: Sequence[Mapping[str, Any]] | Mapping[str, Mapping[str, Any]]
                   ) -> dict[str, Any]:
    """Sum flat cost records.

    Parameters
    ----------
    records : list of dict, or dict of str to dict
        The records, or a per-annotator dict of them.

    Returns
    -------
    dict
        All keys of :meth:`AnnotatorCost.to_dict` (zeros when there is nothing to sum).
    """
    if isinstance(records, Mapping):
        records = list(records.values())
    total = AnnotatorCost().to_dict()
    for rec in records:
        total = add_cost_dicts(total, rec)
    return total


def price_for(prices: Price | Mapping[str, Any] | None, name: str) -> Price | None:
    """The price of annotator ``name``.

    Parameters
    ----------
    prices : Price, mapping or None
        One :class:`Price` for every annotator, or a mapping from annotator name (``"*"``:
        every other annotator) to a :class:`Price`, a spec string for :meth:`Price.parse`
        or a dict of its fields.
    name : str
        The annotator's name.

    Returns
    -------
    Price or None
        None when no price applies (its money is then 0).
    """
    if prices is None or isinstance(prices, Price):
        return prices
    if not isinstance(prices, Mapping):
        raise TypeError(f"prices must be a Price or a mapping name -> Price, got "
                        f"{type(prices).__name__}")
    price = prices.get(name, prices.get("*"))
    if price is None or isinstance(price, Price):
        return price
    if isinstance(price, str):
        return Price.parse(price)
    if isinstance(price, Mapping):
        return Price(**price)
    raise TypeError(f"the price of {name!r} must be a Price, a spec string or a dict; got "
                    f"{type(price).__name__}")


def cost_names(annotators: Sequence[Any]) -> list[str]:
    """The keys of the annotators' costs: their names, made unique with ``#j`` if needed.

    Parameters
    ----------
    annotators : sequence of annotators
        In panel order.

    Returns
    -------
    list of str
    """
    names = [str(getattr(a, "name", type(a).__name__)) for a in annotators]
    return [nm if names.count(nm) == 1 else f"{nm}#{j}" for j, nm in enumerate(names)]


def parse_prices(specs: Sequence[str] | None) -> dict[str, Price]:
    """Prices by annotator name from ``[NAME:]FIELD=X[,FIELD=Y]`` specs (``--price``).

    A spec without ``NAME:`` prices every annotator not named elsewhere (key ``"*"``).

    Parameters
    ----------
    specs : sequence of str or None
        The specs, e.g. ``["per_call=0.01", "yi:per_token=1e-6"]``.

    Returns
    -------
    dict of str to Price

    Examples
    --------
    >>> parse_prices(["per_call=0.01", "yi:per_token=1e-6"])["yi"].per_prompt_token
    1e-06
    """
    prices: dict[str, Price] = {}
    for spec in specs or []:
        head, _, _ = str(spec).partition("=")
        name, colon, _ = head.rpartition(":")
        prices[name if colon else "*"] = Price.parse(spec[len(name) + 1:] if colon else spec)
    return prices


def row_costs(n: int, seconds: float, prompt_tokens: Sequence[int] | None = None,
              completion_tokens: Sequence[int] | None = None) -> list[CallCost]:
    """Per-text costs of one call that annotated ``n`` texts in ``seconds``.

    Parameters
    ----------
    n : int
        Texts annotated.
    seconds : float
        Wall-clock seconds of the whole call, split evenly over the texts.
    prompt_tokens, completion_tokens : sequence of int, optional
        Tokens per text; without ``prompt_tokens`` the tokens are not counted.

    Returns
    -------
    list of CallCost
        One call per text.
    """
    share = float(seconds) / n if n else 0.0
    if prompt_tokens is None:
        return [CallCost(calls=1, seconds=share, tokens_counted=False) for _ in range(n)]
    completion = [0] * n if completion_tokens is None else list(completion_tokens)
    return [CallCost(1, int(p), int(c), share) for p, c in zip(prompt_tokens, completion)]


def timed_annotate(annotator: Any, texts: Sequence[str]) -> Any:
    """``annotator.annotate(texts)``, its result's per-text costs filled in when missing.

    An annotator that reports no costs (recorded, fake, a user's own) is billed one call per
    text, the call's wall-clock seconds split evenly, tokens not counted.

    Parameters
    ----------
    annotator : annotator
        Anything with ``annotate(texts)``.
    texts : sequence of str
        The texts.

    Returns
    -------
    AnnotationResult
        With ``costs`` set.
    """
    t0 = time.perf_counter()
    result = annotator.annotate(texts)
    if getattr(result, "costs", False) is None:
        result.costs = row_costs(len(result), time.perf_counter() - t0)
    return result
