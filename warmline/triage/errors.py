"""The triage error tree: what a caller (the Temporal activity) can catch and decide to retry."""

from __future__ import annotations

from warmline.errors import WarmlineError


class TriageError(WarmlineError):
    """Root of every error the triage package raises on purpose."""


class LexiconError(TriageError):
    """A lexicon file is malformed; the message names the file and line."""


class TriageProviderError(TriageError):
    """A provider could not read a message."""


class RetryableTriageProviderError(TriageProviderError):
    """A provider failure a later attempt may fix: timeouts, 429, 5xx, an unreadable answer."""


class ProviderUnavailableError(RetryableTriageProviderError):
    """The provider could not be reached, timed out, was rate limited or failed on its side."""


class MalformedAnswerError(RetryableTriageProviderError):
    """The model answered, but not with JSON matching the triage schema; a new sample may fix it."""


class PermanentTriageProviderError(TriageProviderError):
    """A provider failure no retry can fix: bad credentials, a rejected request, a refusal."""


class ProviderRejectedError(PermanentTriageProviderError):
    """The provider refused the request itself (4xx other than 429): auth, model name, payload."""


class ModelRefusalError(PermanentTriageProviderError):
    """The model declined to answer the triage question."""


class ModelLoadError(TriageError):
    """A local model directory is missing, corrupt or of a format this version cannot read."""


class TrainingDataError(TriageError):
    """A training file cannot be used at all (missing, or no usable row); the message says why."""


class RecordConflictError(TriageError):
    """`eval --record` would replace the scores of another data file recorded under the same key."""
