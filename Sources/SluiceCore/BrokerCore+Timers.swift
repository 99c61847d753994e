import SluiceProtocol

extension BrokerCore {
    mutating func tick(into actions: inout [BrokerAction<Payload>]) {
        if otherMembersSlots != nil { updateLimitShare() }
        // Expire first: the drains below must not dispatch work past its wait limit.
        expireWaiting(into: &actions)
        flushPendingPlacement(into: &actions)
        fireDeadlines(into: &actions)
        checkLiveness(into: &actions)
        expireParkedAnswers(into: &actions)
        sendDueHeartbeats(into: &actions)
    }

    /// When a new session's first HEARTBEAT is due: within one interval, at a phase taken from
    /// its id, so that sessions that start together (a broker restart, a bench) do not all get
    /// their heartbeats in the same tick every interval after.
    func firstHeartbeat(for id: String) -> Timestamp {
        let interval = UInt64(max(configuration.heartbeatInterval.nanoseconds, 1))
        return now + .nanoseconds(Int64(StableHash.fnv1a(id) % interval))
    }

    /// HEARTBEAT to every session whose own interval is up (§4.3). The scan compares one
    /// timestamp per session; only the sessions due are sent to.
    mutating func sendDueHeartbeats(into actions: inout [BrokerAction<Payload>]) {
        let interval = configuration.heartbeatInterval
        // Cluster sessions hear this broker's room with each heartbeat (§9.3).
        let roomHeartbeat: Message? = clusterSessions.isEmpty ? nil : .roomHeartbeat(room)
        func heartbeat(_ endpoint: Endpoint, _ route: RoutingID) -> Message {
            guard let roomHeartbeat, clusterSessions.contains(SessionKey(endpoint: endpoint, route: route)) else { return .heartbeat }
            return roomHeartbeat
        }
        // Captures locals only, so the in-place invoker scan below can use it too.
        let now = now
        func next(after due: Timestamp) -> Timestamp {
            let following = due + interval
            return following > now ? following : now + interval
        }
        var index = controllers.values.startIndex
        while index != controllers.values.endIndex {
            if let route = controllers.values[index].route, now >= controllers.values[index].heartbeatDue {
                actions.append(.send(.controller, route, heartbeat(.controller, route), opaque: nil))
                controllers.values[index].heartbeatDue = next(after: controllers.values[index].heartbeatDue)
            }
            controllers.values.formIndex(after: &index)
        }
        var position = invokers.values.startIndex
        while position != invokers.values.endIndex {
            // In place: this runs for every invoker every tick (a read of
            // `invokers.values[position]` as a value would copy each one's whole state).
            if let route = readInvoker(at: position, { invoker -> RoutingID? in
                guard now >= invoker.heartbeatDue else { return nil }
                invoker.heartbeatDue = next(after: invoker.heartbeatDue)
                return invoker.route
            }) {
                actions.append(.send(.invoker, route, heartbeat(.invoker, route), opaque: nil))
            }
            invokers.values.formIndex(after: &position)
        }
    }

    /// Circuit breaker (§5): no completion in time means `timeout`, a freed slot and a strike.
    mutating func fireDeadlines(into actions: inout [BrokerAction<Payload>]) {
        var expired: [InFlightTable.Handle] = []
        deadlines.advance(to: now, into: &expired)
        guard !expired.isEmpty else { return }
        for handle in expired {
            let id = inFlight.id(of: handle)
            let invokerID = invokerID(of: inFlight[handle])
            let record = release(handle, id: id, cancelDeadline: false)
            recentlyFinished.insert(id)
            if !record.answered {
                let limit = configuration.completionTimeout(timeLimitMilliseconds: record.timeLimitMilliseconds)
                answer(AnswerHeader(activationID: id, kind: .timeout, invokerID: invokerID,
                                    reason: "no completion from invoker '\(invokerID)' within \(limit) (circuit breaker)"),
                       result: nil, to: record.answerTo, arrivedAt: record.enqueuedAt, handle: handle, into: &actions)
            }
            notifyCompleted(record, id: id, invokerID: invokerID, systemError: false, cause: .timeout, into: &actions)
            recordHealth(invokerID, .timeout, into: &actions)
        }
        drainWaiting(into: &actions)
    }

    mutating func checkLiveness(into actions: inout [BrokerAction<Payload>]) {
        let window = configuration.livenessWindow
        var dead: [String] = []
        var toProbe: [String] = []
        // Every invoker, every tick: read in place (iterating the dictionary by value copied
        // each one's whole state, a stall at 1,000 invokers).
        let now = now
        var index = invokers.values.startIndex
        while index != invokers.values.endIndex {
            let (silent, probe) = readInvoker(at: index) { invoker in
                // A probe must be the only work on the invoker, so its outcome is the probe's.
                (now.since(invoker.lastSeen) > window,
                 (invoker.health == .unhealthy || invoker.health == .unresponsive) && now >= invoker.cooldownUntil && invoker.inFlight.isEmpty)
            }
            if silent { dead.append(invokers.keys[index]) }
            if probe { toProbe.append(invokers.keys[index]) }
            invokers.values.formIndex(after: &index)
        }
        for id in toProbe {
            guard let snapshot = updateInvoker(id, { invoker in
                invoker.health = .probing
                return invoker.snapshot
            }) else { continue }
            strategy.invokerChanged(snapshot)
            actions.append(.notice(.invokerHealthChanged(id: id, health: "probing")))
        }
        let probing = !toProbe.isEmpty
        for id in dead {
            removeInvoker(id, reason: "missed \(configuration.liveness) heartbeats", into: &actions)
        }
        for (id, controller) in controllers where controller.route != nil && now.since(controller.lastSeen) > window {
            disconnectController(id)
            actions.append(.notice(.controllerLost(id: id)))
        }
        if probing { drainWaiting(into: &actions) }
    }

    /// Waiting work past its wait limit is answered `expired` (§6.2).
    mutating func expireWaiting(into actions: inout [BrokerAction<Payload>]) {
        for item in waiting.expired(at: now) {
            if configuration.persistOverflow { actions.append(.overflowConsume(activationID: item.header.activationID)) }
            answer(AnswerHeader(activationID: item.header.activationID, kind: .expired,
                                reason: "waited \(configuration.waitLimit(for: item.header)) without an invoker with room"),
                   result: nil, to: item.header.answerTo, arrivedAt: item.enqueuedAt, into: &actions)
        }
    }

    /// Parked answers past their age are dropped, oldest first; a controller left with none
    /// and no connection is forgotten (§6.4).
    mutating func expireParkedAnswers(into actions: inout [BrokerAction<Payload>]) {
        forgetFormerControllerRoutes()
        guard parkedTotal > 0 else { return }
        var expiring: [String] = []
        for (id, controller) in controllers {
            if let oldest = controller.parked.first, now.since(oldest.parkedAt) >= configuration.maxParkedAnswerAge {
                expiring.append(id)
            }
        }
        for id in expiring {
            var dropped = 0
            while let oldest = controllers[id]?.parked.first, now.since(oldest.parkedAt) >= configuration.maxParkedAnswerAge {
                if let entry = controllers[id]?.parked.removeFirst() { unpark(entry) }
                dropped += 1
            }
            if let controller = controllers[id], controller.route == nil, controller.parked.isEmpty {
                controllers.removeValue(forKey: id)
            }
            counters.answersDropped += dropped
            actions.append(.notice(.parkedAnswersDropped(controllerID: id, count: dropped,
                                                         reason: "controller absent for \(configuration.maxParkedAnswerAge)")))
        }
    }

    // MARK: Shutdown

    mutating func beginShutdown(into actions: inout [BrokerAction<Payload>]) {
        guard !shuttingDown else { return }
        shuttingDown = true
        // Its cluster sessions hear at once that it is leaving, without waiting for etcd:
        // controllers stop sending here, invokers move once their work is done (§9.1, §9.4).
        announceLeaving(into: &actions)
        // With a persistent overflow store, waiting work stays in the store for the next run
        // (it is neither answered nor consumed); otherwise it is answered now.
        guard !configuration.persistOverflow else { return }
        for item in waiting.orderedItems {
            waiting.remove(item.header.activationID)
            answer(AnswerHeader(activationID: item.header.activationID, kind: .overloaded, reason: "broker is shutting down"),
                   result: nil, to: item.header.answerTo, arrivedAt: item.enqueuedAt, into: &actions)
        }
    }

    mutating func finishShutdown(into actions: inout [BrokerAction<Payload>]) {
        shuttingDown = true
        for handle in inFlight.handles {
            let id = inFlight.id(of: handle)
            let invokerID = invokerID(of: inFlight[handle])
            let record = release(handle, id: id)
            if !record.answered {
                answer(AnswerHeader(activationID: id, kind: .timeout, invokerID: invokerID,
                                    reason: "broker shut down before invoker '\(invokerID)' completed it"),
                       result: nil, to: record.answerTo, arrivedAt: record.enqueuedAt, handle: handle, into: &actions)
            }
        }
    }

    /// Answers parked for absent controllers when the broker stops; they are lost.
    public var parkedAnswerCount: Int { parkedTotal }

    /// Controllers the broker keeps state for: connected, or with answers kept for them.
    public var knownControllerCount: Int { controllers.count }
}
