import ArgumentParser
import Foundation
import SluiceOpenWhisk

/// Measures reading an OpenWhisk ActivationMessage two ways, on the same bytes: the
/// hand-written reader the adapters use, and Foundation's JSONDecoder with Decodable types
/// named after OpenWhisk's. Prints microseconds per message for each size.
struct OpenWhiskJSONBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "openwhisk-json-bench",
        abstract: "Time reading OpenWhisk ActivationMessages: the hand-written reader against JSONDecoder.",
        discussion: """
            Each message is an ActivationMessage with parameters (`content`) of the given size, \
            read as a Swift controller's topic facade reads every activation it sends. Both \
            readers get the same bytes; the table prints microseconds per message (best of \
            --rounds) and the ratio. Example: sluice openwhisk-json-bench --sizes 1024,65536,1048576
            """
    )

    @Option(help: "Sizes of `content` in bytes, comma-separated.")
    var sizes = "256,4096,65536,1048576"

    @Option(help: "Rounds; the best round is reported.")
    var rounds = 5

    func run() throws {
        let parsed = sizes.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parsed.isEmpty, parsed.allSatisfy({ $0 >= 0 }) else { throw ValidationError("--sizes must be non-negative whole numbers, comma-separated") }
        guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1") }
        print("content bytes   message bytes   hand-written us   JSONDecoder us   JSONDecoder / hand-written")
        for size in parsed {
            let message = Self.message(contentBytes: size)
            let iterations = max(20, 2_000_000 / max(message.count, 1))
            var handWritten = Double.infinity
            var decoder = Double.infinity
            let jsonDecoder = JSONDecoder()
            let data = Data(message)
            for _ in 0..<rounds {
                let start = ContinuousClock.now
                for _ in 0..<iterations { _ = try ActivationMessageAdapter.read(message) }
                handWritten = min(handWritten, Self.micros(start.duration(to: .now)) / Double(iterations))
                let second = ContinuousClock.now
                for _ in 0..<iterations { _ = try jsonDecoder.decode(ActivationMessage.self, from: data) }
                decoder = min(decoder, Self.micros(second.duration(to: .now)) / Double(iterations))
            }
            print(String(format: "%13d   %13d   %15.2f   %14.2f   %10.2fx", size, message.count, handWritten, decoder, decoder / handWritten))
        }
    }

    static func micros(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1e6 + Double(duration.components.attoseconds) / 1e12
    }

    /// A current ActivationMessage whose `content` holds about `contentBytes` of parameters.
    static func message(contentBytes: Int) -> [UInt8] {
        let filler = String(repeating: "x", count: max(contentBytes - 40, 0))
        let text = """
        {"transid":["sJ8wZbTyqHRxk0ozRbI3bnJm5AsX8BeO",1717171717171],"action":{"path":"whisk.system/utils","name":"echo","version":"0.0.3"},\
        "revision":"3-8a7e31ac0b1d4a0e8f6c2b9d7e5a4c31","user":{"subject":"alice@example.com","namespace":{"name":"alice","uuid":"6f1c2a9e-3b7d-4e0a-9c55-2d8f4b1a7e63"},\
        "authkey":{"api_key":"6f1c2a9e:secret"},"rights":["READ","PUT","DELETE","ACTIVATE"],"limits":{}},"activationId":"0f1e2d3c4b5a69788796a5b4c3d2e1f0",\
        "rootControllerIndex":{"asString":"0","instanceType":"controller"},"blocking":true,\
        "content":{"message":"hello","list":[1,2.5,true,null],"payload":"\(filler)"},"initArgs":[],"lockedArgs":{}}
        """
        return Array(text.utf8)
    }
}
