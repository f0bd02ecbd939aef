"""The task queue (huey) and the periodic runner: a leaf package that imports nothing of sitin.

Packages define their tasks and periodic jobs; ``sitin.bootstrap`` registers them here.
"""

from sitin.queue.periodic import PeriodicRunner
from sitin.queue.taskqueue import TaskQueue

__all__ = ["PeriodicRunner", "TaskQueue"]
