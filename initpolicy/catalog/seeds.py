"""Seeds: the one range every seed lives in, how one is written, and which seed wins.
Torch-free.

A seed is an exact integer in ``[0, 2**63)`` wherever it is given: the policy header
``seed N``, ``--seed`` and ``seed=`` of the API (torch.Generator.manual_seed takes
non-negative int64). Written as text (the header, ``--seed``) it is a decimal number whose
value is exactly a whole number: ``123456789012345678``, ``7.0``, ``1e3`` (never rounded
through a float). Precedence: the caller's seed, else the policy's, else 0.

>>> resolve_seed(None, 7), resolve_seed(3, 7), resolve_seed(None, None)
(7, 3, 0)
>>> problem(2**63), problem(True), problem(12) is None
('seed must be a whole number in [0, 2**63), not 9223372036854775808', 'seed must be a whole number in [0, 2**63), not True', True)
>>> parse_seed("123456789012345678"), parse_seed("1e3")
(123456789012345678, 1000)
>>> parse_seed("1e400")
Traceback (most recent call last):
ValueError: seed must be a whole number in [0, 2**63), not 1e400
"""

from __future__ import annotations

import operator
import re
from decimal import Decimal

#: Seeds are in [0, SEED_LIMIT).
SEED_LIMIT = 1 << 63
_RANGE = "[0, 2**63)"
#: A decimal number as the policy language writes it (its NUMBER), with an optional sign.
_DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _message(shown: object) -> str:
    return f"seed must be a whole number in {_RANGE}, not {shown}"


def problem(value: object) -> str | None:
    """Why ``value`` is not a seed, or None if it is one: an integer (``int``, numpy's
    integers; not a bool, not a float) in ``[0, 2**63)``."""
    if isinstance(value, bool):
        return _message(repr(value))
    try:
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        return _message(repr(value))
    return None if 0 <= number < SEED_LIMIT else _message(repr(value))


def parse_seed(text: str) -> int:
    """The seed that ``text`` writes, exactly (the policy header's ``seed N`` and
    ``--seed``); ValueError naming the text when it is not a whole number in range.

    A click option can use it as its callback's body::

        def seed_callback(ctx, param, value):
            try:
                return None if value is None else parse_seed(value)
            except ValueError as e:
                raise click.BadParameter(str(e)) from None
    """
    shown = text.strip()
    if not _DECIMAL.fullmatch(shown):
        raise ValueError(_message(shown or repr(text)))
    try:  # an exponent past Decimal's own limits (1e-99999999999999999999) is no seed
        number = Decimal(shown)
    except ArithmeticError:
        raise ValueError(_message(shown)) from None
    # adjusted() is the exponent of the leading digit: bounds the size before any int is
    # built, so `1e999999999` costs nothing
    if number != 0 and (number < 0 or number.adjusted() >= 19):
        raise ValueError(_message(shown))
    # a nonzero number whose leading digit is right of the point is no whole number (and
    # to_integral_value() of 1e-99999999999999999999 is beyond Decimal's context)
    if number != 0 and number.adjusted() < 0:
        raise ValueError(_message(shown))
    if number != number.to_integral_value():
        raise ValueError(_message(shown))
    value = int(number)
    if value >= SEED_LIMIT:
        raise ValueError(_message(shown))
    return value


def resolve_seed(argument: int | None, policy_seed: int | None) -> int:
    """Seed precedence: the caller's ``seed=``/``--seed``, else the policy's ``seed N``, else 0."""
    if argument is not None:
        return int(argument)
    if policy_seed is not None:
        return int(policy_seed)
    return 0
