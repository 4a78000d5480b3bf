"""Serve: score card transactions with the registry's champion (ONNX Runtime), secured, observable, hot-swappable.

The BentoML service in ``bentos/fraud_scorer`` is a thin shell; everything it does lives here so that it can
be tested without a server and reused by a second model.
"""
