import Foundation
import SluiceProtocol

/// The three acknowledgements an OpenWhisk invoker sends on `completed<C>`, told apart by
/// which fields are present (as OpenWhisk's own reader does: `instance` and `response`).
public enum Acknowledgement: Equatable, Sendable {
    /// `response` and `instance` (and `isSystemError`): the result is there and the slot is
    /// free. `resultBytes` are the acknowledgement's own bytes, unchanged.
    case combined(activationID: String, isSystemError: Bool, resultBytes: [UInt8])
    /// `activationId` and `instance` (and `isSystemError`), no `response`: the slot is free;
    /// the result, if any, came before in a result-only acknowledgement.
    case completion(activationID: String, isSystemError: Bool)
    /// `response` only: the result of a blocking activation; the slot stays busy until the
    /// completion that follows. `resultBytes` are the acknowledgement's own bytes, unchanged.
    case resultOnly(activationID: String, resultBytes: [UInt8])

    /// The activation this acknowledgement is about.
    public var activationID: String {
        switch self {
        case .combined(let id, _, _), .completion(let id, _), .resultOnly(let id, _): id
        }
    }
}

/// A Sluice message an invoker sends to the broker, with its result frame when it has one.
public struct SluiceInvokerMessage: Equatable, Sendable {
    /// RESULT (§4.10) or COMPLETION (§4.11).
    public var message: Message
    /// The opaque result frame (RESULT and combined COMPLETION); nil when none follows.
    public var resultFrame: [UInt8]?

    /// Creates a message.
    public init(message: Message, resultFrame: [UInt8]?) {
        self.message = message
        self.resultFrame = resultFrame
    }

    /// The complete SLU/1 frames (signature, command, header, and the result frame if any).
    public var frames: [[UInt8]] {
        if let resultFrame { return Codec.encode(message, opaque: resultFrame) }
        return Codec.encode(message)
    }
}

/// An acknowledgement as read, with what Sluice needs to forward it.
public struct ParsedAcknowledgement: Equatable, Sendable {
    /// Which acknowledgement it is.
    public var acknowledgement: Acknowledgement
    /// Its `transid`.
    public var transid: OpenWhiskTransactionID
    /// How the action ended, from the activation record's `response.statusCode` (§4.10):
    /// 0 success; 1 application error and 2 action developer error: `.applicationError`;
    /// 3 whisk internal error: `.systemError`; unknown or absent: `.success`. Without an
    /// activation record (a completion, or an id-only "shrunk" response), `.systemError` when
    /// the acknowledgement says `isSystemError: true`, else `.success`.
    public var outcome: Outcome
    /// The activation record's `response.statusCode`; nil without a record or without a code.
    public var statusCode: Int?
    /// Whether `response` was a whole activation record (false: the id-only "shrunk" form, or no `response`).
    public var hasActivationRecord: Bool
    /// The invoker's instance number from `instance.instance`, when given.
    public var invokerInstance: Int?

    /// Creates a parsed acknowledgement.
    public init(
        acknowledgement: Acknowledgement, transid: OpenWhiskTransactionID, outcome: Outcome,
        statusCode: Int? = nil, hasActivationRecord: Bool, invokerInstance: Int? = nil
    ) {
        self.acknowledgement = acknowledgement
        self.transid = transid
        self.outcome = outcome
        self.statusCode = statusCode
        self.hasActivationRecord = hasActivationRecord
        self.invokerInstance = invokerInstance
    }

    /// The Sluice message to send for it; see `AcknowledgementAdapter.sluiceMessage(for:)`.
    public func sluiceMessage() -> SluiceInvokerMessage { AcknowledgementAdapter.sluiceMessage(for: self) }
}

/// Reads OpenWhisk acknowledgements (CombinedCompletionAndResultMessage, CompletionMessage,
/// ResultMessage) and maps them to the Sluice messages an invoker sends (RESULT, COMPLETION).
///
/// The controller receives the acknowledgement's bytes unchanged: they are the result frame.
public enum AcknowledgementAdapter {
    /// Fields whose values are only syntax-checked (an activation's result can be large).
    private static let unbuiltFields: [[String]] = [
        ["response", "response", "result"], ["response", "logs"], ["response", "annotations"],
    ]

    /// Reads and classifies the acknowledgement `json` (UTF-8 bytes).
    ///
    /// - with `instance` (or the older `invoker`) and `response`: `.combined`;
    /// - with `instance` (or `invoker`) and no `response`: `.completion` (needs `activationId`);
    /// - otherwise: `.resultOnly` (needs `response`).
    ///
    /// `response` is a whole activation record (an object with `activationId`) or just the
    /// activation id string. `isSystemError` is optional in OpenWhisk; when absent it is taken
    /// from the record (`statusCode` 3), else false. Throws `OpenWhiskMessageError` naming the field.
    public static func parse(_ json: [UInt8]) throws(OpenWhiskMessageError) -> ParsedAcknowledgement {
        let document = try JSONParser.parse(json, unbuilt: unbuiltFields)
        let message = try JSONObject(document, path: "")
        let transid = try OpenWhiskTransactionID.read(from: message)

        let instanceKey: String? = message.value("instance") != nil ? "instance" : (message.value("invoker") != nil ? "invoker" : nil)
        var invokerInstance: Int? = nil
        if let instanceKey { invokerInstance = try readInstance(message, key: instanceKey) }
        let declaredSystemError = try message.optionalBool("isSystemError")

        if instanceKey != nil, message.value("response") == nil {
            let activationID = try OpenWhiskIdentifiers.activationID(try message.required("activationId"), field: "activationId")
            let systemError = declaredSystemError ?? false
            return ParsedAcknowledgement(
                acknowledgement: .completion(activationID: activationID, isSystemError: systemError),
                transid: transid, outcome: systemError ? .systemError : .success,
                hasActivationRecord: false, invokerInstance: invokerInstance)
        }

        guard message.value("response") != nil else {
            throw OpenWhiskMessageError(field: "response", problem: "missing (an acknowledgement without 'instance' must carry a response)")
        }
        let response = try readResponse(message)
        if instanceKey != nil {
            let systemError = declaredSystemError ?? (response.statusCode == 3)
            let outcome = response.hasRecord ? response.outcome : (systemError ? Outcome.systemError : .success)
            return ParsedAcknowledgement(
                acknowledgement: .combined(activationID: response.activationID, isSystemError: systemError, resultBytes: json),
                transid: transid, outcome: outcome, statusCode: response.statusCode,
                hasActivationRecord: response.hasRecord, invokerInstance: invokerInstance)
        }
        return ParsedAcknowledgement(
            acknowledgement: .resultOnly(activationID: response.activationID, resultBytes: json),
            transid: transid, outcome: response.outcome, statusCode: response.statusCode,
            hasActivationRecord: response.hasRecord, invokerInstance: nil)
    }

    /// Reads and classifies the acknowledgement `json`; see `parse(_:)` for `[UInt8]`.
    public static func parse(_ json: Data) throws(OpenWhiskMessageError) -> ParsedAcknowledgement {
        try parse([UInt8](json))
    }

    /// The Sluice message for `acknowledgement`:
    /// - combined: COMPLETION with a result (`includesResult`, `systemError`, `outcome`), the
    ///   acknowledgement's original bytes as the result frame;
    /// - completion: COMPLETION without a result (`systemError`; outcome 0 as §4.11 requires);
    /// - result only: RESULT with `outcome`, the acknowledgement's original bytes as the result frame.
    public static func sluiceMessage(for acknowledgement: ParsedAcknowledgement) -> SluiceInvokerMessage {
        switch acknowledgement.acknowledgement {
        case .combined(let id, let systemError, let bytes):
            let header = CompletionHeader(activationID: id, includesResult: true, systemError: systemError, outcome: acknowledgement.outcome)
            return SluiceInvokerMessage(message: .completion(header), resultFrame: bytes)
        case .completion(let id, let systemError):
            let header = CompletionHeader(activationID: id, includesResult: false, systemError: systemError, outcome: .success)
            return SluiceInvokerMessage(message: .completion(header), resultFrame: nil)
        case .resultOnly(let id, let bytes):
            return SluiceInvokerMessage(message: .result(ResultHeader(activationID: id, outcome: acknowledgement.outcome)), resultFrame: bytes)
        }
    }

    /// The Sluice outcome for an OpenWhisk `ActivationResponse.statusCode`: 0 success,
    /// 1 application error and 2 action developer error `.applicationError`, 3 whisk internal
    /// error `.systemError`; any other value `.success`.
    public static func outcome(forStatusCode statusCode: Int?) -> Outcome {
        switch statusCode {
        case 1, 2: .applicationError
        case 3: .systemError
        default: .success
        }
    }

    // MARK: Fields

    private struct Response {
        var activationID: String
        var hasRecord: Bool
        var statusCode: Int?
        var outcome: Outcome
    }

    /// `response`: an activation id string, or an activation record.
    private static func readResponse(_ message: JSONObject) throws(OpenWhiskMessageError) -> Response {
        let value = try message.required("response")
        switch value {
        case .string:
            let id = try OpenWhiskIdentifiers.activationID(value, field: "response")
            return Response(activationID: id, hasRecord: false, statusCode: nil, outcome: .success)
        case .object:
            let record = try JSONObject(value, path: "response")
            let id = try OpenWhiskIdentifiers.activationID(try record.required("activationId"), field: "response.activationId")
            var statusCode: Int? = nil
            if let status = try record.optionalObject("response") { statusCode = try status.optionalInteger("statusCode") }
            return Response(activationID: id, hasRecord: true, statusCode: statusCode, outcome: outcome(forStatusCode: statusCode))
        default:
            throw message.mismatch("response", expected: "an object (activation record) or a string (activation id)", found: value)
        }
    }

    /// `instance` (or the older `invoker`): an invoker instance object; returns its number.
    private static func readInstance(_ message: JSONObject, key: String) throws(OpenWhiskMessageError) -> Int? {
        let instance = try message.object(key)
        return try instance.optionalInteger("instance")
    }
}
