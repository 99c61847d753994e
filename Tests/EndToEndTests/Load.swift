import Foundation
import SluiceClient
import SluiceProtocol

/// What one controller saw while driving load.
struct LoadResult {
    /// Every answer received, by activation id (more than one entry means a duplicate).
    var answers: [String: [ControllerAnswer]] = [:]
    /// When each answer arrived.
    var arrivals: [String: ContinuousClock.Instant] = [:]
    var payloads: [String: [UInt8]] = [:]
    var sent = 0

    var answeredOnce: Bool { answers.values.allSatisfy { $0.count == 1 } }
    var duplicates: Int { answers.values.filter { $0.count > 1 }.count }

    /// Answers whose result bytes are not what the example invoker makes of the payload.
    var wrongResults: [String] {
        answers.compactMap { id, list in
            guard let answer = list.first, answer.kind == .success else { return nil }
            let expected = Array("result-of:\(id):".utf8) + (payloads[id] ?? [])
            return answer.result == expected ? nil : id
        }
    }
}

/// Sends `count` activations keeping `window` outstanding, until all are answered or
/// `timeout` passes. Each payload is unique so results can be checked byte for byte.
func drive(_ client: ControllerClient, prefix: String, count: Int, window: Int, timeout: Duration,
           onAnswer: (@Sendable (ControllerAnswer) -> Void)? = nil) async -> LoadResult {
    var result = LoadResult()
    func next() -> (RoutingHeader, [UInt8]) {
        let id = "\(prefix)-\(result.sent)"
        result.sent += 1
        let payload = Array("{\"activation\":\"\(id)\",\"filler\":\"".utf8) + (0..<200).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ result.sent) & 0x3F | 0x40 } + Array("\"}".utf8)
        result.payloads[id] = payload
        return (RoutingHeader(activationID: id, namespace: "guest", action: "guest/\(prefix)", memoryMB: 128, timeLimitMilliseconds: 10_000), payload)
    }
    // A watchdog ends the stream if answers stop coming.
    let watchdog = Task {
        do {
            try await Task.sleep(for: timeout)
            await client.close()
        } catch {
            // Cancelled: every answer arrived in time.
        }
    }
    client.submit((0..<min(window, count)).map { _ in next() })
    var answered = 0
    for await answer in client.answers {
        onAnswer?(answer)
        result.answers[answer.activationID, default: []].append(answer)
        result.arrivals[answer.activationID] = .now
        answered += 1
        if result.sent < count { client.submit([next()]) }
        if answered >= count { break }
    }
    watchdog.cancel()
    return result
}
