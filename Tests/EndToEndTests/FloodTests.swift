import Foundation
import SluiceProtocol
import Synchronization
import Testing
import ZeroMQ

extension BrokerEndToEndTests {
    /// The loop drains both sockets in batches; under a flood that refills them faster than it
    /// drains, it must still stop for its timers: heartbeats, deadlines and liveness run there.
    /// A loop that drained until the sockets were empty sent no heartbeat for as long as the
    /// flood lasted, and its peers would declare it dead.
    @Test("Under a flood it cannot keep up with, the broker still sends its heartbeats on time, and counts the ERRORs a full connection did not take")
    func heartbeatsDuringFlood() throws {
        // A small send queue per connection, so the flooders' unread ERRORs overflow soon.
        let broker = try BrokerProcess(["--heartbeat-interval", "100ms", "--liveness", "50", "--send-high-water-mark", "100"])
        let context = try ZMQContext()
        let observer = try RawPeer(context: context, endpoint: broker.controllerEndpoint, inbound: .brokerToController)
        try observer.send(.controllerHello(controllerID: "observer"))
        guard let (welcome, _) = try observer.receive(), case .welcome = welcome else {
            throw TestFailure("no WELCOME for the observer")
        }

        // Flooders send HEARTBEATs without a session, as fast as libzmq takes them, and never
        // read: each costs the broker a decode and a refused ERROR (§3.3).
        let stop = Atomic<Bool>(false)
        let sent = Atomic<Int>(0)
        // Each flooder signals when it has stopped, so the test waits for that, not for a time.
        let stopped = DispatchSemaphore(value: 0)
        let flooders = (0..<2).map { index in
            Thread {
                defer { stopped.signal() }
                guard let socket = try? ZMQSocket(context, type: .dealer) else { return }
                try? socket.setLinger(milliseconds: 0)
                try? socket.setSendHighWaterMark(100_000)
                try? socket.connect(broker.controllerEndpoint)
                let frames = Codec.encode(.heartbeat)
                var count = 0
                while !stop.load(ordering: .relaxed) {
                    if (try? socket.send(multipart: frames.map { ZMQMessage(bytes: $0) }, flags: .dontWait)) != nil { count += 1 }
                }
                sent.add(count, ordering: .relaxed)
                _ = index
            }
        }
        for flooder in flooders { flooder.start() }

        // Count the broker's heartbeats to the observer over 3 s of flood.
        let clock = ContinuousClock()
        let end = clock.now + .seconds(3)
        var heartbeats: [ContinuousClock.Instant] = []
        while clock.now < end {
            var poller = ZMQPoller()
            _ = poller.add(observer.socket)
            guard try poller.poll(timeoutMilliseconds: 50) > 0 else { continue }
            while let frames = try observer.socket.receiveMultipart(flags: .dontWait) {
                if case .heartbeat = try Codec.decode(frames.map(\.bytes), channel: .brokerToController) { heartbeats.append(clock.now) }
            }
        }
        stop.store(true, ordering: .relaxed)
        for _ in flooders {
            #expect(stopped.wait(timeout: .now() + 30) == .success, "a flooder did not stop")
        }

        let gaps = zip(heartbeats.dropFirst(), heartbeats).map { $0.0 - $0.1 }
        let longest = gaps.max() ?? .seconds(3)
        let counters = try broker.stop()
        let refused = counters["protocol_errors_notRegistered"] ?? 0
        // Whether the flood outran the broker shows in its summary; it cannot be asserted
        // (queued messages are still refused before it exits). Against the loop that drained
        // until empty, this flood gave 0 to 2 heartbeats in 3 s.
        print("flood: \(sent.load(ordering: .relaxed)) sent, \(refused) refused by the end, \(heartbeats.count) heartbeats, longest gap \(longest)")
        #expect(refused > 0, "the flood never reached the broker")
        // The flooders never read their ERRORs: once their connections are full, the rest are
        // counted, not queued (§7).
        #expect((counters["replies_undelivered"] ?? 0) > 0, "refused: \(refused); no undelivered reply was counted")
        #expect(heartbeats.count >= 10, "only \(heartbeats.count) heartbeats in 3 s of flood at a 100 ms interval")
        #expect(longest < .seconds(1), "the longest gap between heartbeats was \(longest)")
    }
}
