"""Python peers for Sluice's SLU/1 wire protocol (docs/PROTOCOL.md)."""

from . import protocol
from ._peer import SessionError
from .controller import ActivationRefused, Controller
from .invoker import Invoker
from .protocol import (Answer, AnswerKind, Command, Completion, Dispatch, Error, ErrorCode, OriginRole,
                       Outcome, ProtocolError, Publication, RoutingHeader, WarmEntry)

__all__ = ["protocol", "Controller", "Invoker", "ActivationRefused", "SessionError", "Answer",
           "AnswerKind", "Command", "Completion", "Dispatch", "Error", "ErrorCode", "OriginRole", "Outcome",
           "ProtocolError", "Publication", "RoutingHeader", "WarmEntry"]
__version__ = "0.1.0"
