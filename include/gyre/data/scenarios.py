"""The source's scenarios by name: a module of its own so `gyre --help` lists them without importing pandas."""

from __future__ import annotations

SCENARIOS: dict[str, str] = {
    "baseline": "normal traffic",
    "amount_inflation": "every amount 30 % higher (prices moved; the model's amount features drift)",
    "new_mcc_mix": "digital goods, electronics and gambling take a much larger share of traffic",
    "concept_drift": "fraud moves to account takeover: domestic, daytime, new cards, electronics and transfers",
    "amounts_in_cents": "upstream bug: amounts exported in cents",
    "null_spike": "upstream bug: a third of merchant ids and amounts are empty",
    "renamed_column": "upstream bug: column `amount` exported as `amt`",
}
# the drifts `gyre demo` can land after the champion is serving
DRIFT_SCENARIOS = ("concept_drift", "amount_inflation", "new_mcc_mix")
