"""Error types shared by every door (CLI, CMake, gn, west).

Exit codes are part of the public interface (INTERFACES.md):
0 success, 2 usage error or invalid input, 1 a failed or refused operation.
"""

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2


class FactoryDataError(Exception):
    """Base class: a message for the user and the exit code to use."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidInput(FactoryDataError):
    """The input violates a rule (schema, device parser, Matter spec). Exit 2."""

    exit_code = EXIT_INVALID

    def __init__(self, field: str, rule: str):
        self.field = field
        self.rule = rule
        super().__init__(f"{field}: {rule}" if field else rule)

    def __reduce__(self):  # raised in batch workers and re-raised in the parent
        return type(self), (self.field, self.rule)


class OperationFailed(FactoryDataError):
    """An operation failed or was refused (I/O, existing output, missing dependency). Exit 1."""

    exit_code = EXIT_FAILED
