import SluiceProtocol

/// A broker of a cluster (docs/PROTOCOL.md §9, docs/CLUSTER.md). The shell learns the members
/// from etcd and hands them over as `membersChanged`; the core answers CLUSTER, tells every
/// cluster session when the members change, puts its room in their heartbeats and lists the
/// work it recovered from its overflow store. Without an incarnation the broker is alone and
/// CLUSTER is an unknown command.
extension BrokerCore {
    /// CLUSTER from a registered session: RECOVERED (to a controller with recovered work not
    /// answered yet), then MEMBERS, then a HEARTBEAT with the room (§9.1, §9.3).
    mutating func clusterRequested(_ endpoint: Endpoint, _ route: RoutingID, controllerID: String?, into actions: inout [BrokerAction<Payload>]) {
        guard let incarnation = configuration.incarnation else {
            reply(endpoint, route, .unknownCommand, "CLUSTER: this broker is not part of a cluster (§9)", into: &actions)
            return
        }
        clusterSessions.insert(SessionKey(endpoint: endpoint, route: route))
        if let controllerID, let ids = recoveredUnanswered[controllerID], !ids.isEmpty {
            for chunk in Self.recoveredChunks(ids.sorted(), maxBytes: configuration.maxMessageBytes) {
                actions.append(.send(.controller, route, .recovered(Recovered(incarnation: incarnation, activationIDs: chunk)), opaque: nil))
            }
        }
        actions.append(.send(endpoint, route, .members(Members(incarnation: incarnation, members: members)), opaque: nil))
        actions.append(.send(endpoint, route, .roomHeartbeat(room), opaque: nil))
    }

    /// The cluster's members changed (or were first learned): every cluster session hears it.
    /// Once shutdown began this broker lists itself `leaving`, whatever etcd shows yet.
    mutating func membersChanged(_ list: [ClusterMember], into actions: inout [BrokerAction<Payload>]) {
        members = list
        guard let incarnation = configuration.incarnation else { return }
        if shuttingDown, let index = members.firstIndex(where: { $0.brokerID == configuration.brokerID && $0.incarnation == incarnation }) {
            members[index].state = .leaving
        }
        let list = members
        let message = Message.members(Members(incarnation: incarnation, members: list))
        for session in clusterSessions {
            actions.append(.send(session.endpoint, session.route, message, opaque: nil))
        }
    }

    /// Shutdown began: its cluster sessions hear at once that it is `leaving`.
    mutating func announceLeaving(into actions: inout [BrokerAction<Payload>]) {
        membersChanged(members, into: &actions)
    }

    /// A namespace limit as this broker enforces it: alone, all of it; in a cluster, its share
    /// by slots, rounded up and at least 1 (docs/CLUSTER.md: the shares sum to at most
    /// limit + N - 1).
    func sharedLimit(_ limit: Int) -> Int {
        guard limitShare < 1 else { return limit }
        return max(1, Int((Double(limit) * limitShare).rounded(.up)))
    }

    /// Recomputes `limitShare` from this broker's slots and the others'. O(invokers): on ticks
    /// and membership changes, never per activation.
    mutating func updateLimitShare() {
        guard let others = otherMembersSlots, others > 0 else {
            limitShare = 1
            return
        }
        let mine = snapshotSlots
        limitShare = Double(mine) / Double(mine + others)
    }

    /// What a cluster session's heartbeat carries (§9.3).
    var room: Room {
        Room(freeSlots: UInt32(clamping: freeSlots), waiting: UInt32(clamping: waitingCount), slots: UInt32(clamping: snapshotSlots))
    }

    /// Recovered work is listed to its controller until it is answered.
    mutating func noteRecovered(_ header: RoutingHeader) {
        guard configuration.incarnation != nil else { return }
        recoveredUnanswered[header.answerTo, default: []].insert(header.activationID)
    }

    /// An answer leaves: it is no longer recovered work waiting for its answer.
    mutating func forgetRecovered(_ activationID: String, controllerID: String) {
        guard !recoveredUnanswered.isEmpty, var ids = recoveredUnanswered[controllerID] else { return }
        ids.remove(activationID)
        recoveredUnanswered[controllerID] = ids.isEmpty ? nil : ids
    }

    /// Ids in groups whose RECOVERED stays within `maxBytes` (§9.1: several when needed).
    static func recoveredChunks(_ ids: [String], maxBytes: Int) -> [[String]] {
        // Incarnation and count take 12 bytes; each id its length and a length byte; the
        // frames around it are small, 64 bytes leaves room for them.
        let budget = max(maxBytes - 64, 256)
        var chunks: [[String]] = []
        var current: [String] = []
        var size = 12
        for id in ids {
            let cost = 1 + id.utf8.count
            if size + cost > budget && !current.isEmpty {
                chunks.append(current)
                current = []
                size = 12
            }
            current.append(id)
            size += cost
        }
        if !current.isEmpty { chunks.append(current) }
        return chunks
    }
}
