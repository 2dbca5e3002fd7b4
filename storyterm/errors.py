"""StorytermError and its kinds: each carries a message a writer can act on."""

from __future__ import annotations


class StorytermError(Exception):
    """Base of every error storyterm shows to a writer.

    `message` says what happened and what to do; `code` is a stable name for scripts and the API.
    """

    code = "error"
    #: The HTTP status the API answers with; the CLI exits non-zero for all of them.
    http_status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidInput(StorytermError):
    """The writer gave something storyterm cannot use (an empty title, metadata that is not an
    object, ...)."""

    code = "invalid_input"
    http_status = 422


class NotFound(StorytermError):
    """No such thing for this writer: missing and "belongs to someone else" look the same."""

    code = "not_found"
    http_status = 404


class InvalidTransition(StorytermError):
    """A status move the rules do not allow (continue a paused story, resume a completed one)."""

    code = "invalid_transition"
    http_status = 409


class Conflict(StorytermError):
    """Another client changed the same story at the same moment; the loser gets this."""

    code = "conflict"
    http_status = 409


class NameTaken(Conflict):
    """A new account's username is an account's already (in any letter case). `log_in` says how
    the owner logs in instead, in the words of the front end that asked."""

    def __init__(self, username: str, log_in: str = "log in with `storyterm login`") -> None:
        super().__init__(
            f"The username {username!r} is taken (usernames ignore upper and lower case). "
            f"Pick another, or {log_in} if it is yours."
        )
        self.username = username


class AlreadyImported(Conflict):
    """The story being imported is here already: imported before, or the session it was
    exported from. `session_id` is that session; importing again must be asked for."""

    code = "already_imported"

    def __init__(self, message: str, *, session_id: str) -> None:
        super().__init__(message)
        self.session_id = session_id


class AuthError(StorytermError):
    """Not logged in, or the login is no longer valid."""

    code = "auth"
    http_status = 401


class WrongCredentials(AuthError):
    """A login refused for a wrong username or password (the two are never told apart). The
    message names no front end's way to make an account: each adds its own (the CLI its
    `storyterm register`, the TUI its key)."""


class DatabaseUnavailable(StorytermError):
    """The database cannot be reached or opened."""

    code = "database_unavailable"
    http_status = 503


class ModelUnavailable(StorytermError):
    """Ollama is not running, the model is missing, or the stream failed."""

    code = "model_unavailable"
    http_status = 503


class OllamaUnreachable(ModelUnavailable):
    """Nothing answers at the Ollama address: not running, another address, a refused
    connection. (A front end shows Ollama as down.)"""


class ModelFailed(ModelUnavailable):
    """Ollama answered, but the model failed: an error in the middle of a reply, a model that
    does not fit in memory, a reply with nothing in it. (Ollama itself is up.)"""


class ExportError(StorytermError):
    """Files could not be written (read-only directory, full disk, ...)."""

    code = "export_failed"
    http_status = 500

    def __init__(self, message: str, *, another_folder: bool = False) -> None:
        super().__init__(message)
        #: Exporting to another folder would help: a front end says how (the CLI's --out).
        self.another_folder = another_folder


class InvalidToken(AuthError):
    """A login token that does not hold up (forged, expired, revoked, another database, ...).

    `reason` says what is wrong with it; the message adds what to do about it.
    """

    code = "invalid_token"

    def __init__(
        self, reason: str, remedy: str = "Please log in again (`storyterm login`)."
    ) -> None:
        super().__init__(f"{reason}. {remedy}")
        self.reason = reason


class TooManyAttempts(AuthError):
    """Too many wrong passwords in a row: the account refuses logins for `retry_after` seconds."""

    code = "too_many_attempts"
    http_status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ModelMissing(ModelUnavailable):
    """The model a story uses (or the writer asked for) is not installed in Ollama.

    `model` is the missing name; `fallback` an installed model the writer can switch to
    (None when Ollama has none), so a front end can offer it with one key.
    """

    code = "model_missing"
    #: Ollama answers, but the story names a model it does not have: the writer can fix that
    #: (switch the model, or pull it), so the API answers 409, not a server failure.
    http_status = 409

    def __init__(self, message: str, *, model: str, fallback: str | None = None) -> None:
        super().__init__(message)
        self.model = model
        self.fallback = fallback


class GenerationStopped(StorytermError):
    """A generation was stopped (the writer pressed Esc or Ctrl-C, or paused the story
    elsewhere) before the model wrote anything, so nothing was added."""

    code = "stopped"
    http_status = 409
