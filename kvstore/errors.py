"""DynamoDB's error types, one class per ``__type``.

Every error a client can see is raised as one of these classes and rendered
in exactly one place (:meth:`DynamoDBError.to_body`).  The HTTP server turns
``status`` into the HTTP status; the embedded API raises the exception
itself.  Anything else that escapes an operation is a bug of ours and is
reported as an ``InternalServerError`` (500).

Message texts stay literal at the ``raise`` that produces them so that they
can be grepped; DynamoDB clients and test suites match on them.
"""

__all__ = [
    "DynamoDBError",
    "ValidationException",
    "SerializationException",
    "UnknownOperationException",
    "ResourceNotFoundException",
    "ResourceInUseException",
    "ConditionalCheckFailedException",
    "DuplicateItemException",
    "LimitExceededException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "ThrottlingException",
    "TransactionConflictException",
    "TransactionCanceledException",
    "TransactionInProgressException",
    "IdempotentParameterMismatchException",
    "ItemCollectionSizeLimitExceededException",
    "AccessDeniedException",
    "MissingAuthenticationTokenException",
    "InternalServerError",
    "ServiceUnavailable",
    "ExpiredIteratorException",
    "TrimmedDataAccessException",
    "TableNotFoundException",
]

_DYNAMODB = "com.amazonaws.dynamodb.v20120810#"
_CORAL = "com.amazon.coral.service#"
_CORAL_VALIDATE = "com.amazon.coral.validate#"


class DynamoDBError(Exception):
    """Base of every error a DynamoDB client can receive."""

    namespace = _DYNAMODB
    status = 400
    # Errors that carry no "message" member on the wire (UnknownOperation).
    has_message = True

    def __init__(self, message=None, **extra):
        super().__init__(message)
        self.message = message
        self.extra = extra

    @property
    def code(self):
        return type(self).__name__

    @property
    def type(self):
        return self.namespace + self.code

    def to_body(self):
        body = {"__type": self.type}
        if self.message is not None and self.has_message:
            body["message"] = self.message
        if self.extra:
            body.update(self.extra)
        return body

    def __repr__(self):
        return f"{self.code}({self.message!r})"


class ValidationException(DynamoDBError):
    namespace = _CORAL_VALIDATE


class SerializationException(DynamoDBError):
    namespace = _CORAL


class UnknownOperationException(DynamoDBError):
    namespace = _CORAL


class AccessDeniedException(DynamoDBError):
    namespace = _CORAL


class MissingAuthenticationTokenException(DynamoDBError):
    namespace = _CORAL
    status = 403


class ResourceNotFoundException(DynamoDBError):
    pass


class ResourceInUseException(DynamoDBError):
    pass


class ConditionalCheckFailedException(DynamoDBError):
    pass


class DuplicateItemException(DynamoDBError):
    """A PartiQL INSERT of a key that exists."""


class LimitExceededException(DynamoDBError):
    pass


class ProvisionedThroughputExceededException(DynamoDBError):
    pass


class RequestLimitExceeded(DynamoDBError):
    pass


class ThrottlingException(DynamoDBError):
    namespace = _CORAL


class TransactionConflictException(DynamoDBError):
    pass


class TransactionCanceledException(DynamoDBError):
    pass


class TransactionInProgressException(DynamoDBError):
    pass


class IdempotentParameterMismatchException(DynamoDBError):
    pass


class ItemCollectionSizeLimitExceededException(DynamoDBError):
    pass


class InternalServerError(DynamoDBError):
    status = 500


class ServiceUnavailable(DynamoDBError):
    namespace = _CORAL
    status = 503


# DynamoDB Streams (same namespace as DynamoDB's own errors).


class ExpiredIteratorException(DynamoDBError):
    pass


class TrimmedDataAccessException(DynamoDBError):
    pass


class TableNotFoundException(DynamoDBError):
    pass
