"""The `[review]` settings: the review stages and the release policies, in one section."""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

from humannet.review.pii import PiiConfig
from humannet.review.policy import ReleasePolicy, builtin_policies
from humannet.review.unsafe import UnsafeConfig


class ReviewConfig(BaseModel, extra="forbid"):
    unsafe: UnsafeConfig = Field(
        UnsafeConfig(), description="Unsafe-content review of sampled analysis frames (NudeNet); see docs/release.md."
    )
    pii: PiiConfig = Field(
        PiiConfig(), description="Identifying text on screen (RapidOCR + patterns), and its hiding in written clips."
    )
    policies: dict[str, ReleasePolicy] = Field(
        default_factory=builtin_policies,
        description=(
            "Release policies by name (`humannet release --policy NAME`); 'research' and 'commercial' are built in, "
            "more as [review.policies.NAME]."
        ),
    )

    @model_validator(mode="after")
    def _keep_builtins(self) -> ReviewConfig:
        """A config file that defines one policy adds it; the built-in ones stay unless redefined."""
        self.policies = {**builtin_policies(), **self.policies}
        return self
