"""Transactions that take an amount from the row they name: a transfer from an account.

A SQL backend's ``debits`` (``configs/dialogue/backends.yaml``) name, per
``Service.Intent``, the slot holding the amount and the column holding the
balance. Such a transaction runs in the same database transaction as its
reservation record: the row is locked, the idempotency key checked, the balance
compared, the balance lowered and the record written, or nothing at all. A balance
below the amount is an honest refusal (`backend.Declined`), not a failure.

    >>> Debit("amount", "balance").new_balance("5118.77", "$1,630")
    '3488.77'
    >>> Debit("amount", "balance").new_balance("100.00", "200")
    Traceback (most recent call last):
    ...
    lepton_tf.dialogue.backend.Declined: insufficient funds
"""

from __future__ import annotations

import dataclasses
import re
from decimal import Decimal, InvalidOperation

from lepton_tf.dialogue.backend import FAILED, BackendError, Declined

INSUFFICIENT_FUNDS = "insufficient funds"
_MONEY_NOISE = re.compile(r"[\s$,]|(?i:dollars?|usd)")


def money(text: str, what: str) -> Decimal:
    """``"$1,630"`` -> ``Decimal("1630")``.

    Raises:
        BackendError: ``failed``: not an amount of money.
    """
    try:
        value = Decimal(_MONEY_NOISE.sub("", str(text)))
    except InvalidOperation:
        raise BackendError(FAILED, f"{what} {text!r} is not an amount of money") from None
    if not value.is_finite():
        raise BackendError(FAILED, f"{what} {text!r} is not an amount of money")
    return value


@dataclasses.dataclass(frozen=True)
class Debit:
    """Attributes:
        amount: the slot of the call's arguments holding the amount.
        balance: the column of the named row holding its balance.
    """

    amount: str
    balance: str

    def new_balance(self, balance: str, amount: str) -> str:
        """The balance after taking `amount`, two decimals.

        Raises:
            Declined: the amount is not positive, or exceeds the balance.
            BackendError: either is not an amount of money.
        """
        have, take = money(balance, self.balance), money(amount, self.amount)
        if take <= 0:
            raise Declined("the amount must be more than zero")
        if take > have:
            raise Declined(INSUFFICIENT_FUNDS)
        return f"{have - take:.2f}"
