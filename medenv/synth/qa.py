"""`QAItem`, `Hop`, `Constraint` live on the ground floor, in `medenv.qa` (the env, rewards,
corpus and evaluation read them without importing the synthesis pipeline); re-exported here."""

from medenv.qa import Constraint, Hop, QAItem

__all__ = ["Constraint", "Hop", "QAItem"]
