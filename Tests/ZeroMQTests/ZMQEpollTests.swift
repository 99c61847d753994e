import Testing
import ZeroMQ
#if canImport(Glibc)
import Glibc
#endif

// ZMQEpoll over real sockets on tcp loopback: only the sockets with something to read are
// reported, and the documented rule (receive until nothing is left, then check isReadable)
// finds every message even when sends on the same socket consume the descriptor's signal.

@Suite("ZMQEpoll")
struct ZMQEpollTests {
    @Test("of 50 watched DEALERs, wait reports the ones a ROUTER sent to, and every message is found")
    func reportsOnlyReadySockets() throws {
        let context = try ZMQContext()
        let router = try ZMQSocket(context, type: .router)
        try router.setRouterMandatory(true)
        try router.bind("tcp://127.0.0.1:*")
        let endpoint = try router.lastEndpoint
        let epoll = try ZMQEpoll()
        var dealers: [ZMQSocket] = []
        for index in 0..<50 {
            let dealer = try ZMQSocket(context, type: .dealer)
            try dealer.setRoutingID(Array("d\(index)".utf8))
            try dealer.setLinger(milliseconds: 0)
            try dealer.connect(endpoint)
            try dealer.send(bytes: Array("hello".utf8))
            try epoll.add(dealer, token: index)
            dealers.append(dealer)
        }
        // Take every hello so the router knows all 50 routes.
        var greeted = 0
        while greeted < 50 {
            if try router.receiveMultipart(flags: .dontWait) != nil { greeted += 1 } else { usleep(1_000) }
        }
        // The documented start: service every socket once. A socket's descriptor only signals
        // new messages after a receive has found it empty.
        for dealer in dealers {
            while try dealer.receiveMultipart(flags: .dontWait) != nil {}
        }
        var ready: [Int] = []
        try epoll.wait(timeoutMilliseconds: 0, into: &ready)
        for index in ready { _ = dealers[index].isReadable }

        let targets: Set<Int> = [3, 17, 42]
        for target in targets {
            for n in 0..<5 { try router.send(multipart: [ZMQMessage(bytes: Array("d\(target)".utf8)), ZMQMessage(bytes: [UInt8(n)])]) }
        }
        var received: [Int: [UInt8]] = [:]
        var reported = Set<Int>()
        let deadline = ContinuousClock.now + .seconds(5)
        while received.values.map(\.count).reduce(0, +) < 15 && ContinuousClock.now < deadline {
            ready.removeAll()
            try epoll.wait(timeoutMilliseconds: 100, into: &ready)
            for index in ready {
                reported.insert(index)
                repeat {
                    while let frames = try dealers[index].receiveMultipart(flags: .dontWait) {
                        received[index, default: []].append(frames[0].bytes[0])
                        // A send on the same socket may consume the signal of what arrives next.
                        try dealers[index].send(bytes: [0x61])
                    }
                } while dealers[index].isReadable
            }
        }
        #expect(Set(received.keys) == targets)
        for target in targets { #expect(received[target] == [0, 1, 2, 3, 4], "socket \(target) got \(received[target] ?? [])") }
        #expect(reported.isSubset(of: targets), "sockets with nothing to read were reported: \(reported.subtracting(targets))")
    }
}

@Suite("ZeroMQ wrapper edge cases")
struct ZeroMQEdgeCaseTests {
    @Test("send(multipart: []) throws EINVAL instead of silently sending nothing")
    func emptyMultipartThrows() throws {
        let context = try ZMQContext()
        let socket = try ZMQSocket(context, type: .dealer)
        try socket.setLinger(milliseconds: 0)
        let error = try #require(throws: ZMQError.self) { try socket.send(multipart: []) }
        #expect(error.errno == EINVAL)
        #expect(error.description.contains("no frames"))
    }
}
