"""METHODS: method name -> (its config dataclass, its module class).

A method module builds its networks and returns named losses: ``Method(cfg)`` with ``data``
("walks" or "clips": the data module it trains on, `trainers.data`), ``forward(x, generator,
clean=None)`` -> {name: loss}, ``checkpoints(run)`` -> {name: (module, metadata)} and, optionally,
``init_from(spec)`` (how ``init=`` starts it) and ``encoders()`` (action methods: the encoders
judged on validation at the end). Adding a method: one module here, one YAML in trainers/configs.
"""

from trainers.methods.isc import ISC, ISCConfig
from trainers.methods.sge_la import SGELAConfig, SGELAMethod

METHODS = {"sge_la": (SGELAConfig, SGELAMethod), "isc": (ISCConfig, ISC)}
