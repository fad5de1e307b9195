"""Scheduled pipelines (seed 004's daily "extract → transform → test → notify").

A pipeline is defined in ``<data_dir>/pipelines.toml`` (``hexlake.pipeline.config``); it runs its
steps — extract, transform (with its audits), sync — on a cron inside the server or
``hexlake worker --only pipelines``, with retries and backoff, never overlapping; every run is kept
in the run history, and a failed run (or failed audit) notifies a signed, retried webhook.
"""

from hexlake.pipeline.config import ExtractStep, Pipeline, load_pipelines
from hexlake.pipeline.runner import PipelineFailed, history, run_pipeline

__all__ = ["ExtractStep", "Pipeline", "PipelineFailed", "history", "load_pipelines", "run_pipeline"]
