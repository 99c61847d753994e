import Foundation
import Testing
import SluiceOpenWhisk
import SluiceProtocol

@Suite("Acknowledgements -> RESULT / COMPLETION")
struct AcknowledgementAdapterTests {

    private let tid = OpenWhiskTransactionID(id: "tid_42", startMilliseconds: 1_717_171_717_171)

    // MARK: Classification

    @Test("combined with a full activation record")
    func combined() throws {
        let json = bytes(combinedAckJSON())
        let ack = try AcknowledgementAdapter.parse(json)
        #expect(ack.acknowledgement == .combined(activationID: sampleActivationID, isSystemError: false, resultBytes: json))
        #expect(ack.acknowledgement.activationID == sampleActivationID)
        #expect(ack.transid == tid)
        #expect(ack.outcome == .success)
        #expect(ack.statusCode == 0)
        #expect(ack.hasActivationRecord)
        #expect(ack.invokerInstance == 2)
    }

    @Test("completion: activationId and isSystemError, no response")
    func completion() throws {
        let ack = try AcknowledgementAdapter.parse(bytes(completionAckJSON(isSystemError: true)))
        #expect(ack.acknowledgement == .completion(activationID: sampleActivationID, isSystemError: true))
        #expect(ack.transid == tid)
        #expect(ack.hasActivationRecord == false)
        #expect(ack.statusCode == nil)
        #expect(ack.invokerInstance == 2)
    }

    @Test("result only: response without instance")
    func resultOnly() throws {
        let json = bytes(resultOnlyAckJSON(statusCode: 1))
        let ack = try AcknowledgementAdapter.parse(json)
        #expect(ack.acknowledgement == .resultOnly(activationID: sampleActivationID, resultBytes: json))
        #expect(ack.transid == tid)
        #expect(ack.outcome == .applicationError)
        #expect(ack.statusCode == 1)
        #expect(ack.hasActivationRecord)
        #expect(ack.invokerInstance == nil)
    }

    @Test("shrunk combined: response is just the activation id")
    func shrunkCombined() throws {
        let json = bytes(shrunkCombinedAckJSON())
        let ack = try AcknowledgementAdapter.parse(json)
        #expect(ack.acknowledgement == .combined(activationID: sampleActivationID, isSystemError: false, resultBytes: json))
        #expect(ack.hasActivationRecord == false)
        #expect(ack.statusCode == nil)
        #expect(ack.outcome == .success)
    }

    @Test("shrunk combined with isSystemError: the outcome is a system error")
    func shrunkCombinedSystemError() throws {
        let ack = try AcknowledgementAdapter.parse(bytes(shrunkCombinedAckJSON(isSystemError: true)))
        #expect(ack.acknowledgement == .combined(activationID: sampleActivationID, isSystemError: true,
                                                 resultBytes: bytes(shrunkCombinedAckJSON(isSystemError: true))))
        #expect(ack.outcome == .systemError)
    }

    @Test("shrunk result only")
    func shrunkResultOnly() throws {
        let json = bytes(shrunkResultOnlyAckJSON)
        let ack = try AcknowledgementAdapter.parse(json)
        #expect(ack.acknowledgement == .resultOnly(activationID: sampleActivationID, resultBytes: json))
        #expect(ack.outcome == .success)
        #expect(ack.hasActivationRecord == false)
    }

    @Test("statusCode -> outcome", arguments: [
        (0 as Int?, Outcome.success),
        (1, .applicationError),   // application error
        (2, .applicationError),   // action developer error
        (3, .systemError),        // whisk internal error
        (9, .success),            // unknown code
        (nil, .success),          // no code
    ])
    func statusCodes(code: Int?, expected: Outcome) throws {
        #expect(AcknowledgementAdapter.outcome(forStatusCode: code) == expected)
        let combined = try AcknowledgementAdapter.parse(bytes(combinedAckJSON(statusCode: code)))
        #expect(combined.outcome == expected)
        #expect(combined.statusCode == code)
        let result = try AcknowledgementAdapter.parse(bytes(resultOnlyAckJSON(statusCode: code)))
        #expect(result.outcome == expected)
    }

    @Test("isSystemError absent: taken from the record (statusCode 3), else false")
    func systemErrorFromRecord() throws {
        let whiskError = #"{"transid":["t",1],"response":\#(activationRecord(statusCode: 3)),"instance":\#(invokerInstanceJSON)}"#
        let ack = try AcknowledgementAdapter.parse(bytes(whiskError))
        #expect(ack.acknowledgement == .combined(activationID: sampleActivationID, isSystemError: true, resultBytes: bytes(whiskError)))
        let appError = #"{"transid":["t",1],"response":\#(activationRecord(statusCode: 1)),"instance":\#(invokerInstanceJSON)}"#
        let other = try AcknowledgementAdapter.parse(bytes(appError))
        #expect(other.acknowledgement == .combined(activationID: sampleActivationID, isSystemError: false, resultBytes: bytes(appError)))
        let completion = #"{"transid":["t",1],"activationId":"\#(sampleActivationID)","instance":\#(invokerInstanceJSON)}"#
        #expect(try AcknowledgementAdapter.parse(bytes(completion)).acknowledgement
                == .completion(activationID: sampleActivationID, isSystemError: false))
    }

    @Test("older CompletionMessage with 'invoker' instead of 'instance'")
    func olderCompletion() throws {
        let json = #"{"transid":["t",1],"activationId":"\#(sampleActivationID)","isSystemError":false,"invoker":{"instance":4,"userMemory":"1024 MB"}}"#
        let ack = try AcknowledgementAdapter.parse(bytes(json))
        #expect(ack.acknowledgement == .completion(activationID: sampleActivationID, isSystemError: false))
        #expect(ack.invokerInstance == 4)
    }

    // MARK: Mapping to Sluice messages

    @Test("combined -> COMPLETION with result; the acknowledgement bytes are the result frame, unchanged")
    func mapCombined() throws {
        let json = bytes(combinedAckJSON(statusCode: 2, isSystemError: false))
        let mapped = try AcknowledgementAdapter.parse(json).sluiceMessage()
        #expect(mapped.message == .completion(CompletionHeader(
            activationID: sampleActivationID, includesResult: true, systemError: false, outcome: .applicationError)))
        #expect(mapped.resultFrame == json)
        let frames = mapped.frames
        #expect(frames.count == 4)
        #expect(frames.last == json)
        #expect(try Codec.decode(frames, channel: .invokerToBroker) == mapped.message)
    }

    @Test("combined whisk error -> COMPLETION with systemError flag and outcome")
    func mapCombinedSystemError() throws {
        let json = bytes(combinedAckJSON(statusCode: 3, isSystemError: true))
        let mapped = AcknowledgementAdapter.sluiceMessage(for: try AcknowledgementAdapter.parse(json))
        #expect(mapped.message == .completion(CompletionHeader(
            activationID: sampleActivationID, includesResult: true, systemError: true, outcome: .systemError)))
        #expect(mapped.resultFrame == json)
    }

    @Test("completion -> COMPLETION without result")
    func mapCompletion() throws {
        let mapped = try AcknowledgementAdapter.parse(bytes(completionAckJSON(isSystemError: true))).sluiceMessage()
        #expect(mapped.message == .completion(CompletionHeader(
            activationID: sampleActivationID, includesResult: false, systemError: true, outcome: .success)))
        #expect(mapped.resultFrame == nil)
        let frames = mapped.frames
        #expect(frames.count == 3)
        #expect(try Codec.decode(frames, channel: .invokerToBroker) == mapped.message)
    }

    @Test("result only -> RESULT; the acknowledgement bytes are the result frame, unchanged")
    func mapResultOnly() throws {
        let json = bytes(resultOnlyAckJSON(statusCode: 1))
        let mapped = try AcknowledgementAdapter.parse(json).sluiceMessage()
        #expect(mapped.message == .result(ResultHeader(activationID: sampleActivationID, outcome: .applicationError)))
        #expect(mapped.resultFrame == json)
        #expect(mapped.frames.last == json)
        #expect(try Codec.decode(mapped.frames, channel: .invokerToBroker) == mapped.message)
    }

    @Test("shrunk responses map like their full forms")
    func mapShrunk() throws {
        let combined = bytes(shrunkCombinedAckJSON())
        let mappedCombined = try AcknowledgementAdapter.parse(combined).sluiceMessage()
        #expect(mappedCombined.message == .completion(CompletionHeader(
            activationID: sampleActivationID, includesResult: true, systemError: false, outcome: .success)))
        #expect(mappedCombined.resultFrame == combined)

        let result = bytes(shrunkResultOnlyAckJSON)
        let mappedResult = try AcknowledgementAdapter.parse(result).sluiceMessage()
        #expect(mappedResult.message == .result(ResultHeader(activationID: sampleActivationID, outcome: .success)))
        #expect(mappedResult.resultFrame == result)
    }

    @Test("bytes are forwarded exactly, whitespace and key order included")
    func bytesUnchanged() throws {
        let pretty = """
        {
          "instance" : { "instanceType" : "invoker", "instance" : 0, "userMemory" : "512 MB" },
          "isSystemError" : false,
          "response" : { "activationId" : "\(sampleActivationID)", "response" : { "result" : { "é" : "\\u00e9" }, "statusCode" : 0 } },
          "transid" : [ "t", 1 ]
        }
        """
        let json = bytes(pretty)
        let ack = try AcknowledgementAdapter.parse(json)
        #expect(ack.acknowledgement == .combined(activationID: sampleActivationID, isSystemError: false, resultBytes: json))
        #expect(ack.sluiceMessage().resultFrame == json)
        #expect(ack.sluiceMessage().frames.last == json)
    }

    @Test("Data input")
    func dataInput() throws {
        let ack = try AcknowledgementAdapter.parse(Data(completionAckJSON().utf8))
        #expect(ack.acknowledgement == .completion(activationID: sampleActivationID, isSystemError: false))
    }

    @Test("a large result is accepted and forwarded whole")
    func largeResult() throws {
        let big = String(repeating: "x", count: 900_000)
        let json = bytes(#"{"transid":["t",1],"response":\#(activationRecord(statusCode: 0, result: #"{"blob":"\#(big)"}"#))}"#)
        let mapped = try AcknowledgementAdapter.parse(json).sluiceMessage()
        #expect(mapped.resultFrame?.count == json.count)
        #expect(mapped.resultFrame == json)
    }
}
