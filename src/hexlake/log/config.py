from pydantic import Field

from hexlake._configbase import Section


class LogConfig(Section):
    """Durable EventLog behaviour (all backends)."""

    visibility_timeout_s: float = Field(30.0, description="Un-acked messages are redelivered after this.")
    max_attempts: int = Field(5, description="Deliveries before a message is dead-lettered.")
    backoff_base_s: float = Field(1.0, description="First retry delay; doubles on every failed attempt.")
    backoff_max_s: float = Field(300.0, description="Upper bound of the retry delay.")
    group_commit_ms: float = Field(
        2.0, description="How long an append waits for concurrent appends to share one fsync."
    )
