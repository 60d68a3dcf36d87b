"""Test benches: the bundled sample and the synthetic churn world with planted causes.

* :mod:`.world`: :func:`make_synthetic` and :func:`write_synthetic` (the
  generative story is in its docstring);
* :mod:`.population`: who churns, when and why, and the signals;
* :mod:`.generators`: one generator per raw table;
* :mod:`.retention`: a simulated retention programme (``interventions``);
* :mod:`.comebacks`: lost customers who come back, and a win-back programme;
* :mod:`.sample`: :func:`load_sample`, the bundled ``data/sample/``;
* :mod:`.btyd`: :class:`BgNbd` and :class:`ParetoNbd`, order logs from the
  field's standard models of repeat buying, with their exact optimal forecasts
  (benches churnml did not write);
* :mod:`.subscriptions`: :class:`Subscriptions`, monthly renewals from the
  shifted-beta-geometric model with logins that carry signal, and its exact
  optimal forecast.
"""

from churnml.datasets.btyd import BgNbd, ParetoNbd
from churnml.datasets.comebacks import Comebacks, planted_return_probability
from churnml.datasets.retention import RetentionProgramme
from churnml.datasets.sample import (
    SAMPLE_DIR,
    SAMPLE_SPEC,
    load_sample,
    load_sample_truth,
    write_sample,
)
from churnml.datasets.subscriptions import Subscriptions
from churnml.datasets.world import make_synthetic, synthetic_frames, write_synthetic

__all__ = [
    "SAMPLE_DIR",
    "SAMPLE_SPEC",
    "BgNbd",
    "Comebacks",
    "ParetoNbd",
    "RetentionProgramme",
    "Subscriptions",
    "load_sample",
    "load_sample_truth",
    "make_synthetic",
    "planted_return_probability",
    "synthetic_frames",
    "write_sample",
    "write_synthetic",
]
