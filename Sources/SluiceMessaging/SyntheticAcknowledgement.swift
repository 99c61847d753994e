import SluiceOpenWhisk
import SluiceProtocol

/// The acknowledgement a controller reads on `completed<C>` for an answer that carries no
/// invoker bytes: the broker decided it (timeout, invokerLost, overloaded, throttled, expired,
/// rejected) or the invoker completed without a result. It has the fields of OpenWhisk's
/// completion message (`transid`, `activationId`, `isSystemError`, `instance`) plus a
/// `sluice` object with the answer kind and reason, which OpenWhisk's reader ignores.
enum SyntheticAcknowledgement {
    static func json(for answer: AnswerHeader, transid: OpenWhiskTransactionID?) -> [UInt8] {
        let systemError = !(answer.kind == .success || answer.kind == .applicationError)
        let transaction = transid ?? OpenWhiskTransactionID(id: "sluice", startMilliseconds: 0)
        let instance = answer.invokerID.hasPrefix("invoker") ? Int(answer.invokerID.dropFirst("invoker".count)) ?? -1 : -1
        var text = "{\"transid\":[\(quoted(transaction.id)),\(transaction.startMilliseconds)],"
        text += "\"activationId\":\(quoted(answer.activationID)),"
        text += "\"isSystemError\":\(systemError),"
        text += "\"instance\":{\"instance\":\(instance),\"instanceType\":\"invoker\",\"userMemory\":\"0 B\"},"
        text += "\"sluice\":{\"answer\":\(quoted("\(answer.kind)")),\"reason\":\(quoted(answer.reason))}}"
        return Array(text.utf8)
    }

    static func quoted(_ value: String) -> String { Text.jsonQuoted(value) }
}
