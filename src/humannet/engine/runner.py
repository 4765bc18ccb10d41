"""What every runner offers: run a pipeline over videos and hand back finished records.

Stages never see the runner. A runner only decides where `Pipeline.run` executes (worker
processes here, Ray actors on a cluster) and yields each finished `Video` as soon as it is
done, in any order; the caller commits it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator

from humannet.engine.pipeline import PipelineSpec
from humannet.records import Video


class Runner(ABC):
    workers: int

    @abstractmethod
    def map(self, spec: PipelineSpec, videos: Iterable[Video]) -> Iterator[Video]:
        """Run the pipeline built from `spec` on every video; yield each result when it finishes."""
