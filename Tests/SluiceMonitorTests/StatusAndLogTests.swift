import Foundation
import Logging
import SluiceCore
@testable import SluiceMonitor
import Testing

@Suite("Status document, its text view, and JSON logs")
struct StatusAndLogTests {
    func feed(from broker: ScriptedBroker) -> MonitorFeed {
        let feed = MonitorFeed(version: "9.9.9", configuration: [.init("routing.strategy", "least-loaded"), .init("broker.id", "b1")])
        feed.publish(broker.monitorSnapshot())
        feed.beat()
        return feed
    }

    @Test("/status round-trips through JSON with every table, counter names unchanged")
    func roundTrip() throws {
        var broker = ScriptedBroker()
        broker.controller("c1")
        broker.invoker("inv-a", slots: 1)
        broker.activate("a0")
        broker.activate("a1", namespace: "other")
        let document = StatusDocument(feed: feed(from: broker))
        let json = String(decoding: document.json(), as: UTF8.self)
        #expect(json.contains("\"activations_received\" : 2"), "counter names stay as the summary prints them")
        #expect(json.contains("\"slots_used\" : 1"), "snake case keys")
        #expect(json.contains("\"routing.strategy\" : \"least-loaded\""))
        let decoded = try StatusDocument.decode(document.json())
        #expect(decoded == document)
        #expect(decoded.counters["activations_received"] == 2)
        #expect(decoded.invokers.map(\.id) == ["inv-a"])
        #expect(decoded.invokers.first?.state == "healthy")
        #expect(decoded.controllers.first?.inFlight == 1, "a0 runs; a1 waits (in flight counts dispatched work only)")
        #expect(decoded.waitingByNamespace == [.init(namespace: "other", waiting: 1)])
        #expect(decoded.state == "running")
        #expect(decoded.loop.lastTickSecondsAgo != nil)
    }

    @Test("sluice status prints every table, and rates once it has a previous reading")
    func textView() throws {
        var broker = ScriptedBroker()
        broker.controller("c1")
        broker.invoker("inv-a", slots: 4)
        let before = StatusDocument(feed: feed(from: broker))
        for index in 0..<20 { broker.activate("a\(index)") }
        let after = StatusDocument(feed: feed(from: broker))
        let text = StatusView.render(after, endpoint: "127.0.0.1:5680", previous: before, interval: 2)
        #expect(text.contains("received 20 (10/s)"), "\(text)")
        #expect(text.contains("inv-a"))
        #expect(text.contains("4/4"))
        #expect(text.contains("c1"))
        #expect(text.contains("NAMESPACE"))
        #expect(text.contains("guest"))
        #expect(StatusView.grouped(1_234_567) == "1,234,567")
    }

    @Test("--log-format json: one valid JSON object per line, metadata as fields, text escaped")
    func jsonLogLine() throws {
        let line = JSONLogHandler.line(timestamp: Date(timeIntervalSince1970: 1_700_000_000.25), level: .warning, logger: "sluice.broker",
                                       message: "invoker \"a\" lost\nnext\u{01}",
                                       metadata: ["invoker": "inv-1", "message": "clash", "nested": .dictionary(["k": .array(["x", "y"])])])
        #expect(!line.contains("\n"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["timestamp"] as? String == "2023-11-14T22:13:20.250000Z")
        #expect(object["level"] as? String == "warning")
        #expect(object["logger"] as? String == "sluice.broker")
        #expect(object["message"] as? String == "invoker \"a\" lost\nnext\u{01}")
        #expect(object["invoker"] as? String == "inv-1")
        #expect(object["metadata_message"] as? String == "clash")
        #expect((object["nested"] as? [String: Any])?["k"] as? [String] == ["x", "y"])
    }
}
