"""METHODS: method name -> (its config dataclass, its module class).

A method module builds its networks and returns named losses: ``Method(cfg)`` with ``data``
("walks", "identities" (walks with their people as labels), "teacher" (walks with a teacher's
features) or "clips": the data module it trains
on, `trainers.data`), optionally ``configure(cfg, data)`` (the config completed from the data,
e.g. the number of classes), ``forward(x, generator,
second=None)`` -> {name: loss} (``second``: each sample's clean window under joint dropout, or
another viewpoint of its action instance under multi-view sampling), ``checkpoints(run)`` -> {name: (module, metadata)} and, optionally,
``init_from(spec)`` (how ``init=`` starts it), ``after_step(progress)`` (after each optimiser
step), ``keep = "last"`` (write the last epoch's weights, not the best validation loss's) and ``encoders()`` (action methods: the encoders
judged on validation at the end). Adding a method: one module here, one YAML in trainers/configs.
"""

from trainers.methods.a3d import A3DMethod, A3DMethodConfig
from trainers.methods.byol import BYOL, BYOLConfig
from trainers.methods.crrl import CRRL, CRRLConfig
from trainers.methods.distill import Distill, DistillConfig
from trainers.methods.isc import ISC, ISCConfig
from trainers.methods.sge_la import SGELAConfig, SGELAMethod

METHODS = {"sge_la": (SGELAConfig, SGELAMethod), "isc": (ISCConfig, ISC), "crrl": (CRRLConfig, CRRL),
           "byol": (BYOLConfig, BYOL), "a3d": (A3DMethodConfig, A3DMethod),
           "distill": (DistillConfig, Distill)}
