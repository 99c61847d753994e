import SluiceCore
import SluicePluginAPI
import SluiceProtocol
import SluiceStrategyLeastLoaded

// A scripted driver for `BrokerCore<[UInt8]>` (docs/PROTOCOL.md).
//
// The harness plays every peer: it sends HELLO, ACTIVATE, RESULT, COMPLETION, CAPACITY,
// HEARTBEAT and GOODBYE as decoded messages, owns a manual clock, and turns the actions the
// core returns into what peers would observe: DISPATCHes per invoker connection, ANSWERs per
// controller connection, ERRORs per connection. Connections are named by strings; by default a
// peer's connection is named after its id ("c1", "i1"), and reconnect tests pick new names.

/// The routing id of the connection called `name`.
func route(_ name: String) -> RoutingID { RoutingID(Array(name.utf8)) }

/// The connection name behind a routing id.
func routeName(_ id: RoutingID) -> String { String(decoding: id.bytes, as: UTF8.self) }

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// A DISPATCH as the invoker on `route` receives it.
struct SentDispatch: Equatable {
    var route: String
    var header: RoutingHeader
    var payload: [UInt8]
    var activationID: String { header.activationID }
}

/// An ANSWER as the controller on `route` receives it: header frame plus result frame.
struct SentAnswer: Equatable {
    var route: String
    var header: AnswerHeader
    /// The result frame; an absent frame is the empty frame on the wire.
    var result: [UInt8]
    var activationID: String { header.activationID }
    var kind: AnswerKind { header.kind }
}

/// An ERROR as the peer on `route` receives it.
struct SentError: Equatable {
    var endpoint: Endpoint
    var route: String
    var report: ErrorReport
    var code: ErrorCode { report.code }
    var activationID: String { report.activationID }
}

/// The actions of one or more `handle` calls, read the way peers see them.
struct Observed {
    var actions: [BrokerAction<[UInt8]>] = []

    static func += (lhs: inout Observed, rhs: Observed) { lhs.actions += rhs.actions }

    var dispatches: [SentDispatch] {
        actions.compactMap {
            if case .send(.invoker, let route, .dispatch(let header), let payload) = $0 {
                return SentDispatch(route: routeName(route), header: header, payload: payload ?? [])
            }
            return nil
        }
    }

    func dispatches(to route: String) -> [SentDispatch] { dispatches.filter { $0.route == route } }

    /// Activation ids dispatched, in order.
    var dispatchedIDs: [String] { dispatches.map(\.activationID) }
    func dispatchedIDs(to route: String) -> [String] { dispatches(to: route).map(\.activationID) }

    /// (activation id, invoker connection) of every DISPATCH, in order.
    var placements: [String] { dispatches.map { "\($0.activationID)->\($0.route)" } }

    var answers: [SentAnswer] {
        actions.compactMap {
            if case .send(.controller, let route, .answer(let header), let result) = $0 {
                return SentAnswer(route: routeName(route), header: header, result: result ?? [])
            }
            return nil
        }
    }

    func answers(to route: String) -> [SentAnswer] { answers.filter { $0.route == route } }
    func answers(for activationID: String) -> [SentAnswer] { answers.filter { $0.activationID == activationID } }

    var errors: [SentError] {
        actions.compactMap {
            if case .send(let endpoint, let route, .error(let report), _) = $0 {
                return SentError(endpoint: endpoint, route: routeName(route), report: report)
            }
            return nil
        }
    }

    func errors(to route: String) -> [SentError] { errors.filter { $0.route == route } }

    func welcomes(to route: String) -> [Welcome] {
        actions.compactMap {
            if case .send(_, let r, .welcome(let welcome), _) = $0, routeName(r) == route { return welcome }
            return nil
        }
    }

    var notices: [BrokerNotice] {
        actions.compactMap {
            if case .notice(let notice) = $0 { return notice }
            return nil
        }
    }

    /// Index in `actions` of the first message sent to `route` that matches `isMatch`.
    func indexOfSend(to route: String, where isMatch: (Message) -> Bool) -> Int? {
        actions.firstIndex {
            if case .send(_, let r, let message, _) = $0 { return routeName(r) == route && isMatch(message) }
            return false
        }
    }
}

/// A broker core, a manual clock and the peers around it.
struct Harness {
    var core: BrokerCore<[UInt8]>
    private(set) var now: Timestamp = .zero
    /// Everything the core did since the harness started.
    private(set) var log = Observed()
    /// Connections whose peer keeps sending HEARTBEAT while time advances.
    private(set) var heartbeating: [String: Endpoint] = [:]
    /// The current connection of each invoker / controller id.
    private(set) var invokerRoutes: [String: String] = [:]
    private(set) var controllerRoutes: [String: String] = [:]

    init(configuration: BrokerConfiguration = BrokerConfiguration(),
         strategy: any RoutingStrategy = LeastLoadedStrategy()) {
        core = BrokerCore(configuration: configuration, strategy: strategy, start: .zero)
    }

    static func payload(for activationID: String) -> [UInt8] { bytes("payload-of-\(activationID)") }

    /// Waiting work a previous run left in the overflow store, as `.recovered` carries it:
    /// activations of guest/a (128 MB) for `controller`, each having waited `waited`.
    static func recovered(_ ids: [String], for controller: String, waited: Duration) -> BrokerEvent<[UInt8]> {
        .recovered(ids.map { id in
            (header: RoutingHeader(activationID: id, namespace: "guest", action: "guest/a", memoryMB: 128, answerTo: controller),
             payload: payload(for: id), waited: waited)
        })
    }

    // MARK: Raw events

    @discardableResult
    mutating func handle(_ event: BrokerEvent<[UInt8]>) -> Observed {
        let observed = Observed(actions: core.handle(event, now: now))
        log += observed
        return observed
    }

    @discardableResult
    mutating func receive(_ endpoint: Endpoint, from connection: String, _ message: Message,
                          opaque: [UInt8]? = nil) -> Observed {
        handle(.received(endpoint, route(connection), .success(message), opaque: opaque))
    }

    @discardableResult
    mutating func receiveFailure(_ endpoint: Endpoint, from connection: String, _ error: ProtocolError) -> Observed {
        handle(.received(endpoint, route(connection), .failure(error), opaque: nil))
    }

    // MARK: Sessions

    /// Controller HELLO from `connection` (default: the id). The connection then heartbeats.
    @discardableResult
    mutating func controllerHello(_ id: String, connection: String? = nil) -> Observed {
        let connection = connection ?? id
        if let old = controllerRoutes[id], old != connection { heartbeating[old] = nil }
        controllerRoutes[id] = connection
        heartbeating[connection] = .controller
        return receive(.controller, from: connection, .controllerHello(controllerID: id))
    }

    /// Invoker HELLO with its capacity from `connection` (default: the id).
    @discardableResult
    mutating func invokerHello(_ id: String, memoryMB: UInt32 = 4096, slots: UInt32 = 4,
                               connection: String? = nil) -> Observed {
        let connection = connection ?? id
        if let old = invokerRoutes[id], old != connection { heartbeating[old] = nil }
        invokerRoutes[id] = connection
        heartbeating[connection] = .invoker
        return receive(.invoker, from: connection,
                       .invokerHello(InvokerHello(invokerID: id, memoryMB: memoryMB, slots: slots)))
    }

    @discardableResult
    mutating func controllerGoodbye(_ id: String) -> Observed {
        let connection = controllerRoutes[id] ?? id
        heartbeating[connection] = nil
        return receive(.controller, from: connection, .goodbye)
    }

    @discardableResult
    mutating func invokerGoodbye(_ id: String) -> Observed {
        let connection = invokerRoutes[id] ?? id
        heartbeating[connection] = nil
        return receive(.invoker, from: connection, .goodbye)
    }

    /// The peer on `connection` falls silent: no more HEARTBEATs while time advances.
    mutating func stopHeartbeats(_ connection: String) { heartbeating[connection] = nil }

    // MARK: Work

    /// ACTIVATE from controller `controller` (its current connection unless `connection` is
    /// given), with a payload that names the activation unless `payload` is given.
    @discardableResult
    mutating func activate(_ activationID: String, from controller: String = "c1", memoryMB: UInt32 = 256,
                           timeLimitMilliseconds: UInt32 = 60_000, targetInvoker: String = "",
                           answerTo: String = "", payload: [UInt8]? = nil,
                           connection: String? = nil) -> Observed {
        let header = RoutingHeader(activationID: activationID, namespace: "guest", action: "guest/echo",
                                   revision: "1-abc", memoryMB: memoryMB,
                                   timeLimitMilliseconds: timeLimitMilliseconds,
                                   targetInvoker: targetInvoker, answerTo: answerTo)
        let connection = connection ?? controllerRoutes[controller] ?? controller
        return receive(.controller, from: connection, .activate(header),
                       opaque: payload ?? Harness.payload(for: activationID))
    }

    /// RESULT from `invoker` (the result alone; the slot stays busy, §4.10).
    @discardableResult
    mutating func result(_ activationID: String, on invoker: String, _ result: [UInt8],
                         outcome: Outcome = .success, connection: String? = nil) -> Observed {
        let connection = connection ?? invokerRoutes[invoker] ?? invoker
        return receive(.invoker, from: connection,
                       .result(ResultHeader(activationID: activationID, outcome: outcome)), opaque: result)
    }

    /// COMPLETION from `invoker`: the combined form when `result` is given, else id-only (§4.11).
    @discardableResult
    mutating func complete(_ activationID: String, on invoker: String, result: [UInt8]? = nil,
                           outcome: Outcome = .success, systemError: Bool = false,
                           connection: String? = nil) -> Observed {
        let connection = connection ?? invokerRoutes[invoker] ?? invoker
        let header = CompletionHeader(activationID: activationID, includesResult: result != nil,
                                      systemError: systemError, outcome: result != nil ? outcome : .success)
        return receive(.invoker, from: connection, .completion(header), opaque: result)
    }

    /// CAPACITY from `invoker`: its new total capacity (§4.8).
    @discardableResult
    mutating func capacity(_ invoker: String, memoryMB: UInt32, slots: UInt32) -> Observed {
        let connection = invokerRoutes[invoker] ?? invoker
        return receive(.invoker, from: connection, .capacity(Capacity(memoryMB: memoryMB, slots: slots)))
    }

    @discardableResult
    mutating func heartbeat(from connection: String, _ endpoint: Endpoint) -> Observed {
        receive(endpoint, from: connection, .heartbeat)
    }

    // MARK: Time

    /// Moves the clock forward by `duration` in steps of at most `step`. At each step every
    /// heartbeating peer sends HEARTBEAT, then the core gets a `.tick`.
    @discardableResult
    mutating func advance(by duration: Duration, step: Duration = .seconds(1)) -> Observed {
        let end = now + duration
        var observed = Observed()
        while now < end {
            now = min(now + step, end)
            for (connection, endpoint) in heartbeating.sorted(by: { $0.key < $1.key }) {
                observed += receive(endpoint, from: connection, .heartbeat)
            }
            observed += handle(.tick)
        }
        return observed
    }

    /// Moves the clock forward to `seconds` after the start (see `advance(by:step:)`).
    @discardableResult
    mutating func advance(toSeconds seconds: Double, step: Duration = .seconds(1)) -> Observed {
        let target = Timestamp.zero + .milliseconds(Int64((seconds * 1000).rounded()))
        precondition(target >= now, "time only moves forward")
        return advance(by: target.since(now), step: step)
    }

    /// Moves the clock without heartbeats or ticks (the next event carries the new time).
    mutating func setClock(toSeconds seconds: Double) {
        let target = Timestamp.zero + .milliseconds(Int64((seconds * 1000).rounded()))
        precondition(target >= now, "time only moves forward")
        now = target
    }
}
