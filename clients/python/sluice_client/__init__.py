"""Python peers for Sluice's SLU/1 wire protocol (docs/PROTOCOL.md)."""

from . import protocol
from ._peer import SessionError
from .controller import CLIENT_TIMEOUT_REASON, ActivationRefused, Controller, default_answer_timeout
from .invoker import Invoker
from .protocol import (Answer, AnswerKind, Command, Completion, Dispatch, Error, ErrorCode, OriginRole,
                       Outcome, ProtocolError, Publication, RoutingHeader, WarmEntry)

__all__ = ["protocol", "Controller", "Invoker", "ActivationRefused", "SessionError", "CLIENT_TIMEOUT_REASON",
           "default_answer_timeout", "Answer",
           "AnswerKind", "Command", "Completion", "Dispatch", "Error", "ErrorCode", "OriginRole", "Outcome",
           "ProtocolError", "Publication", "RoutingHeader", "WarmEntry"]
__version__ = "0.1.0"
