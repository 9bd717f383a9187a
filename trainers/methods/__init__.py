"""METHODS: method name -> (its config dataclass, its module class with ``losses(batch)``)."""

from trainers.methods.sge_la import SGELAConfig, SGELAMethod

METHODS = {"sge_la": (SGELAConfig, SGELAMethod)}
