"""What a model is trained on and how it must behave, as plain data: a second model is a new spec, not a fork.

The feature columns are not listed here: they are whatever the FeatureService returns (its feature contract),
that is every column of the training frame except the keys, the timestamp and the label.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class BehaviourCase:
    """A property the model must keep on holdout rows, whatever its metrics say.

    Rows are those holdout rows with every ``at_least`` column at or above its value. Every row first gets
    ``context`` (for example "foreign, at 3 a.m."); its score is then compared with the score after ``scale``
    (columns multiplied) and ``replace`` (columns overwritten). A row breaks the case when its score moves
    the wrong way by more than ``tolerance``; the case fails when more than ``max_failing_share`` of rows do.
    """

    name: str
    description: str
    expect: Literal["not_lower", "unchanged"]
    context: dict[str, object] = field(default_factory=dict)
    scale: dict[str, float] = field(default_factory=dict)
    replace: dict[str, object] = field(default_factory=dict)
    at_least: dict[str, float] = field(default_factory=dict)
    shuffle_columns: bool = False
    tolerance: float = 0.0
    max_failing_share: float = 0.0

    @property
    def columns(self) -> set[str]:
        return {*self.context, *self.scale, *self.replace, *self.at_least}


@dataclass(frozen=True)
class TrainingSpec:
    """One model's training contract: its label, time column, keys and behaviour (the service is a setting)."""

    label: str
    timestamp: str
    keys: tuple[str, ...]
    behaviour: tuple[BehaviourCase, ...] = ()

    @property
    def not_features(self) -> set[str]:
        return {self.label, self.timestamp, *self.keys}

    def features(self, columns: list[str]) -> list[str]:
        """The model's inputs: every column that is not a key, the timestamp or the label, in frame order."""
        return [c for c in columns if c not in self.not_features]


FRAUD = TrainingSpec(
    label="is_fraud",
    timestamp="event_timestamp",
    keys=("transaction_id", "customer_id", "merchant_id"),
    behaviour=(
        BehaviourCase(
            name="foreign_night_amount_x10",
            description="a foreign transaction at 3 a.m. made ten times larger must not score lower",
            expect="not_lower",
            context={"is_foreign": 1.0, "hour_of_day": 3.0},
            # The amount and its ratio to the customer's usual amount move together, as in a real request.
            scale={"txn_amount": 10.0, "amount_to_customer_mean_30d": 10.0},
            # Purchases, not card-testing probes: a 1 EUR digital-goods charge is suspicious because it is tiny.
            at_least={"txn_amount": 10.0},
            # Trees are step functions: allow a rare small dip, never a systematic one.
            tolerance=0.05,
            max_failing_share=0.02,
        ),
        BehaviourCase(
            name="identifiers_do_not_matter",
            description="another transaction, customer or merchant id with the same features keeps the score",
            expect="unchanged",
            replace={"transaction_id": "T-other", "customer_id": "C-other", "merchant_id": "M-other"},
            tolerance=1e-9,
        ),
        BehaviourCase(
            name="column_order_does_not_matter",
            description="the same features in another column order keep the score",
            expect="unchanged",
            shuffle_columns=True,
            tolerance=1e-9,
        ),
    ),
)
