"""Estimators that learn the churn probability, and what they need around them.

* :mod:`.features`: the input columns, fixed at training time;
* :mod:`.scorecard`: the rule scorecard, the documents' health score as a baseline;
* :mod:`.lightgbm`: LightGBM with churnml's settings, early-stopped;
* :mod:`.btyd`: the BG/NBD model of repeat buying, fitted by maximum likelihood;
* :mod:`.baselines`: the field's simple baselines, which replace LightGBM where they rank better;
* :mod:`.calibration`: probabilities from any of them, calibrated on a later slice;
* :mod:`.treeshap`: exact SHAP values of a LightGBM model, fast;
* :mod:`.survival`: the discrete-time hazard model (churn risk per horizon);
* :mod:`.persistence`: model directories saved and loaded atomically.

:class:`churnml.ChurnModel` (:mod:`churnml.model`) composes them with the
indicators, the labels and the scoring stage.
"""
