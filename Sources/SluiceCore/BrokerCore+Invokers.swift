import SluicePluginAPI
import SluiceProtocol

extension BrokerCore {
    mutating func invokerSent(_ message: Message, from route: RoutingID, opaque: Payload?, into actions: inout [BrokerAction<Payload>]) {
        if case .invokerHello(let hello) = message {
            invokerHello(hello, from: route, into: &actions)
            return
        }
        guard let invokerID = invokerIDByRoute[route], let index = invokers.index(forKey: invokerID) else {
            reply(.invoker, route, .notRegistered, "send HELLO first: this connection has no session (§3.3)",
                  activationID: message.activationID ?? "", into: &actions)
            return
        }
        // In place: a copy of the state kept alive here would make every later change to its
        // in-flight set copy the set.
        invokers.values[index].lastSeen = now

        switch message {
        case .heartbeat:
            break
        case .invokerHeartbeat(let report):
            updateWarm(invokerID, report)
        case .goodbye:
            removeInvoker(invokerID, reason: "said goodbye", into: &actions)
        case .cluster:
            clusterRequested(.invoker, route, controllerID: nil, into: &actions)
        case .capacity(let capacity):
            if let snapshot = updateInvoker(invokerID, { invoker in
                invoker.memoryMB = capacity.memoryMB
                invoker.slots = capacity.slots
                return invoker.snapshot
            }) {
                strategy.invokerChanged(snapshot)
            }
            drainWaiting(into: &actions)
        case .result(let result):
            invokerResult(result, payload: opaque, from: invokerID, route: route, into: &actions)
        case .completion(let completion):
            invokerCompletion(completion, payload: opaque, from: invokerID, at: index, route: route, into: &actions)
        case .subscribe, .unsubscribe, .publish:
            broadcastCommand(message, from: route, endpoint: .invoker, peerID: invokerID, opaque: opaque, into: &actions)
        default:
            // The codec only lets invoker commands through (§4 table).
            preconditionFailure("codec let \(message.command) through on the invoker endpoint")
        }
    }

    mutating func invokerHello(_ hello: InvokerHello, from route: RoutingID, into actions: inout [BrokerAction<Payload>]) {
        // This connection spoke for another invoker before: that session ends.
        if let previous = invokerIDByRoute[route], previous != hello.invokerID {
            removeInvoker(previous, reason: "its connection re-registered as '\(hello.invokerID)'", into: &actions)
        }
        var replaced = false
        if var existing = invokers[hello.invokerID] {
            if existing.route == route {
                // Same connection says HELLO again: a capacity update, in-flight work stays.
                existing.memoryMB = hello.memoryMB
                existing.slots = hello.slots
                existing.tags = hello.tags
                existing.lastSeen = now
                countDedicated(existing.dedicatedNamespaces, by: -1)
                existing.dedicatedNamespaces = hello.dedicatedNamespaces
                countDedicated(existing.dedicatedNamespaces, by: 1)
                store(existing)
                strategy.invokerChanged(existing.snapshot)
                actions.append(.send(.invoker, route, .welcome(welcome), opaque: nil))
                drainWaiting(into: &actions)
                return
            }
            // A new connection with the same id: the invoker restarted or reconnected. What it
            // still runs is unknown, so its in-flight work is answered now (at-most-once).
            removeInvoker(hello.invokerID, reason: "reconnected on a new connection", into: &actions)
            replaced = true
        }
        // A HELLO that starts a session starts it with no subscriptions (§4.13).
        endSession(.invoker, route)
        var invoker = InvokerState(id: hello.invokerID, position: takePosition(for: hello.invokerID), route: route,
                                   memoryMB: hello.memoryMB, slots: hello.slots, tags: hello.tags, lastSeen: now)
        invoker.dedicatedNamespaces = hello.dedicatedNamespaces
        invoker.heartbeatDue = firstHeartbeat(for: hello.invokerID)
        countDedicated(invoker.dedicatedNamespaces, by: 1)
        store(invoker)
        invokerIDByRoute[route] = hello.invokerID
        strategy.invokerJoined(invoker.snapshot)
        actions.append(.notice(.invokerRegistered(id: hello.invokerID, memoryMB: hello.memoryMB, slots: hello.slots, replacedConnection: replaced)))
        actions.append(.send(.invoker, route, .welcome(welcome), opaque: nil))
        drainWaiting(into: &actions)
    }

    /// The invoker's own position if it is free, else the lowest free one, else a new one.
    mutating func takePosition(for id: String) -> Int {
        if let previous = positionByID[id], cluster[previous] == nil { return previous }
        let position = cluster.firstIndex(where: { $0 == nil }) ?? cluster.count
        if position == cluster.count {
            loads.append(.absent)
            cluster.append(nil)
        }
        positionByID[id] = position
        return position
    }

    mutating func countDedicated(_ namespaces: [String], by delta: Int) {
        for namespace in namespaces {
            let count = dedicatedCounts[namespace, default: 0] + delta
            dedicatedCounts[namespace] = count > 0 ? count : nil
        }
    }

    /// Replaces an invoker's warm containers with `report` (§4.12) and keeps the index of
    /// warm positions per action current.
    mutating func updateWarm(_ invokerID: String, _ report: WarmReport) {
        guard var invoker = invokers[invokerID] else { return }
        // Invokers repeat their report with every heartbeat and completion; an unchanged one
        // must cost no allocation, index update or strategy notification.
        if report.entries.count == invoker.warm.count && report.entries.allSatisfy({ invoker.warm[$0.action] == $0 }) { return }
        var warm: [String: WarmReport.Entry] = [:]
        warm.reserveCapacity(report.entries.count)
        for entry in report.entries { warm[entry.action] = entry }
        for action in invoker.warm.keys where warm[action] == nil {
            warmPositions[action]?.remove(invoker.position)
            if warmPositions[action]?.isEmpty == true { warmPositions[action] = nil }
        }
        for action in warm.keys where invoker.warm[action] == nil {
            warmPositions[action, default: []].insert(invoker.position)
        }
        invoker.warm = warm
        store(invoker)
        strategy.invokerChanged(invoker.snapshot)
    }

    var welcome: Welcome {
        Welcome(brokerID: configuration.brokerID,
                heartbeatMilliseconds: UInt32(clamping: configuration.heartbeatInterval.milliseconds),
                maxMessageBytes: UInt32(clamping: configuration.maxMessageBytes))
    }

    /// Finds the in-flight record for a RESULT or COMPLETION, or replies why there is none.
    mutating func ownedActivation(_ id: String, invokerID: String, route: RoutingID, command: Command,
                                  into actions: inout [BrokerAction<Payload>]) -> InFlightTable.Handle? {
        let handle = inFlight.find(id)
        if let handle, self.invokerID(of: inFlight[handle]) == invokerID { return handle }
        if handle == nil && recentlyFinished.contains(id) {
            // It timed out or its invoker was declared lost: the answer went out already.
            counters.lateCompletions += 1
            reply(.invoker, route, .unknownActivation, "\(command) for \(id) arrived after it was answered (timeout or invoker lost); dropped",
                  activationID: id, into: &actions)
        } else {
            reply(.invoker, route, .unknownActivation, "\(command) for \(id): no such activation in flight on this invoker",
                  activationID: id, into: &actions)
        }
        return nil
    }

    mutating func invokerResult(_ result: ResultHeader, payload: Payload?, from invokerID: String, route: RoutingID,
                                into actions: inout [BrokerAction<Payload>]) {
        guard let handle = ownedActivation(result.activationID, invokerID: invokerID, route: route, command: .result, into: &actions) else { return }
        guard !inFlight[handle].answered else {
            reply(.invoker, route, .unknownActivation, "a result for \(result.activationID) was already delivered; dropped",
                  activationID: result.activationID, into: &actions)
            return
        }
        inFlight[handle].answered = true
        answer(AnswerHeader(activationID: result.activationID, kind: result.outcome.answerKind, invokerID: invokerID),
               result: payload, to: inFlight[handle].answerTo, arrivedAt: inFlight[handle].enqueuedAt, handle: handle, into: &actions)
    }

    /// `index`: the invoker's place in `invokers` (looked up once per message, by `invokerSent`;
    /// nothing here adds or removes an invoker, so it stays valid).
    mutating func invokerCompletion(_ completion: CompletionHeader, payload: Payload?, from invokerID: String,
                                    at index: [String: InvokerState].Index, route: RoutingID,
                                    into actions: inout [BrokerAction<Payload>]) {
        let id = completion.activationID
        if let report = completion.warm { updateWarm(invokerID, report) }
        guard let handle = ownedActivation(id, invokerID: invokerID, route: route, command: .completion, into: &actions) else { return }
        let record = release(handle, id: id, invokerIndex: index)
        recordLatency(since: dispatchedAt(record), as: .ran)
        if !record.answered {
            if completion.includesResult {
                answer(AnswerHeader(activationID: id, kind: completion.outcome.answerKind, invokerID: invokerID),
                       result: payload, to: record.answerTo, arrivedAt: record.enqueuedAt, handle: handle, into: &actions)
            } else {
                answer(AnswerHeader(activationID: id, kind: completion.systemError ? .systemError : .success, invokerID: invokerID,
                                    reason: "completed without a result"),
                       result: nil, to: record.answerTo, arrivedAt: record.enqueuedAt, handle: handle, into: &actions)
            }
        }
        notifyCompleted(record, id: id, invokerID: invokerID, systemError: completion.systemError, cause: .completion, into: &actions)
        recordHealth(invokerID, completion.systemError ? .systemError : .ok, at: index, into: &actions)
        placeWaitingAfterCompletion(into: &actions)
    }

    // MARK: Health (§5)

    mutating func recordHealth(_ invokerID: String, _ sample: InvokerState.Sample, at knownIndex: [String: InvokerState].Index? = nil,
                               into actions: inout [BrokerAction<Payload>]) {
        let window = configuration.healthWindow
        // The common case, a success on a healthy invoker, changes only its window: nothing a
        // strategy sees, so the snapshot stays as it is.
        if sample == .ok, let index = knownIndex ?? invokers.index(forKey: invokerID),
           readInvoker(at: index, { invoker in
               guard invoker.health == .healthy else { return false }
               invoker.recent.record(.ok, capacity: window)
               return true
           }) {
            return
        }
        let cooldownUntil = now + configuration.healthCooldown
        let maxSystemErrors = configuration.maxSystemErrors
        let maxTimeouts = configuration.maxTimeouts
        guard let (after, snapshot) = updateInvoker(invokerID, { invoker -> (InvokerHealth, InvokerSnapshot?) in
            let before = invoker.health
            if invoker.health == .probing {
                if sample == .ok {
                    invoker.health = .healthy
                    invoker.recent.removeAll()
                } else {
                    invoker.health = sample == .timeout ? .unresponsive : .unhealthy
                    invoker.cooldownUntil = cooldownUntil
                }
            } else {
                invoker.recent.record(sample, capacity: window)
                if invoker.health == .healthy {
                    if invoker.recent.systemErrors > maxSystemErrors {
                        invoker.health = .unhealthy
                        invoker.cooldownUntil = cooldownUntil
                    } else if invoker.recent.timeouts > maxTimeouts {
                        invoker.health = .unresponsive
                        invoker.cooldownUntil = cooldownUntil
                    }
                }
            }
            return (invoker.health, invoker.health != before ? invoker.snapshot : nil)
        }) else { return }
        if let snapshot {
            strategy.invokerChanged(snapshot)
            actions.append(.notice(.invokerHealthChanged(id: invokerID, health: after.rawValue)))
        }
    }

    // MARK: Loss

    /// Ends an invoker's session: every activation it holds is answered `invokerLost` and never
    /// redelivered (at-most-once); waiting work stays for the others.
    mutating func removeInvoker(_ invokerID: String, reason: String, into actions: inout [BrokerAction<Payload>]) {
        guard let invoker = invokers[invokerID] else { return }
        var answered = 0
        for handle in invoker.inFlight {
            let id = inFlight.id(of: handle)
            let record = release(handle, id: id)
            recentlyFinished.insert(id)
            if !record.answered {
                answered += 1
                answer(AnswerHeader(activationID: id, kind: .invokerLost, invokerID: invokerID,
                                    reason: "invoker '\(invokerID)' \(reason) while running it"),
                       result: nil, to: record.answerTo, arrivedAt: record.enqueuedAt, handle: handle, into: &actions)
            }
            notifyCompleted(record, id: id, invokerID: invokerID, systemError: true, cause: .invokerLost, into: &actions)
        }
        let snapshot = invoker.snapshot
        updateWarm(invokerID, WarmReport([]))
        countDedicated(invoker.dedicatedNamespaces, by: -1)
        if let stored = invokers.removeValue(forKey: invokerID) { account(AggregateShare(stored), by: -1) }
        assert(aggregatesAreCurrent, "invoker aggregates drifted from the invokers")
        setSnapshot(nil, at: invoker.position)
        if invokerIDByRoute[invoker.route] == invokerID {
            invokerIDByRoute.removeValue(forKey: invoker.route)
            endSession(.invoker, invoker.route)
        }
        counters.invokersLost += 1
        strategy.invokerLeft(snapshot)
        actions.append(.notice(.invokerLost(id: invokerID, reason: reason, inFlightAnswered: answered)))
        // Work that waited for exactly this invoker can no longer be placed.
        for item in waiting.orderedItems where item.header.targetInvoker == invokerID {
            if let taken = takeWaiting(item.header.activationID, into: &actions) {
                answer(AnswerHeader(activationID: taken.header.activationID, kind: .rejected,
                                    reason: "target invoker '\(invokerID)' \(reason)"),
                       result: nil, to: taken.header.answerTo, arrivedAt: taken.enqueuedAt, into: &actions)
            }
        }
    }

    mutating func dispatchFailed(route: RoutingID, header: RoutingHeader, payload: Payload, unreachable: Bool,
                                 into actions: inout [BrokerAction<Payload>]) {
        // The DISPATCH never left the broker, so handing it to another invoker keeps
        // at-most-once: take it back and queue it first in line.
        // Only the DISPATCH that failed: the same id may since have been answered, submitted
        // again and sent elsewhere.
        guard let handle = inFlight.find(header.activationID) else { return }
        let invokerID = invokerID(of: inFlight[handle])
        guard invokers[invokerID]?.route == route else { return }
        let record = release(handle, id: header.activationID)
        traceWaits(header.activationID, handle: handle)
        counters.dispatchRetries += 1
        // The DISPATCH carried the routing header the record was made from.
        let item = WaitingActivation(header: header, payload: payload, enqueuedAt: record.enqueuedAt)
        // Bounds do not apply: it was accepted already. Journaled again: its record was consumed.
        waiting.add(.init(header: item.header, payload: payload, enqueuedAt: item.enqueuedAt,
                          deadline: item.enqueuedAt + configuration.waitLimit(for: item.header)), atFront: true)
        if configuration.persistOverflow {
            actions.append(.overflowAppend(item.header, payload: payload, enqueuedAt: item.enqueuedAt))
        }
        // Either way the invoker cannot take work: its connection is gone, or it left a pipe of
        // 100,000 messages unread although it never has more than its slots in flight.
        removeInvoker(invokerID, reason: unreachable ? "connection is gone" : "stopped reading (its pipe is full)",
                      into: &actions)
        drainWaiting(into: &actions)
    }
}
