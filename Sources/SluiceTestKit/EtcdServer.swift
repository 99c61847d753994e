import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A real etcd member (Debian's etcd-server) on free loopback ports, in a temporary directory,
/// for the cluster tests (docs/CLUSTER.md). `scripts/setup.sh --cluster` installs etcd.
public final class EtcdServer: @unchecked Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    public private(set) var process = Process()
    public let directory: URL
    public let clientURL: URL
    let binary: String
    let arguments: [String]

    /// One member, a cluster of its own.
    public convenience init() throws {
        let clientPort = try freePort(), peerPort = try freePort()
        try self.init(name: "n1", clientPort: clientPort, peerPort: peerPort, initialCluster: "n1=http://127.0.0.1:\(peerPort)",
                      token: "sluice-\(peerPort)")
    }

    init(name: String, clientPort: Int, peerPort: Int, initialCluster: String, token: String) throws {
        guard let binary = ["/usr/bin/etcd", "/usr/local/bin/etcd"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw Failure("etcd is not installed: scripts/setup.sh --cluster installs etcd-server (apt)")
        }
        self.binary = binary
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-etcd-\(UUID().uuidString)")
        clientURL = URL(string: "http://127.0.0.1:\(clientPort)")!
        let peer = "http://127.0.0.1:\(peerPort)"
        arguments = [
            "--name", name, "--data-dir", directory.path,
            "--listen-client-urls", clientURL.absoluteString, "--advertise-client-urls", clientURL.absoluteString,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", initialCluster,
            "--initial-cluster-token", token,
        ]
        try launch()
    }

    /// `count` members forming one etcd cluster, each on its own free ports.
    public static func cluster(members count: Int) throws -> [EtcdServer] {
        let ports = try (0..<count).map { _ in (client: try freePort(), peer: try freePort()) }
        let initial = ports.enumerated().map { "n\($0.offset + 1)=http://127.0.0.1:\($0.element.peer)" }.joined(separator: ",")
        return try ports.enumerated().map { index, port in
            try EtcdServer(name: "n\(index + 1)", clientPort: port.client, peerPort: port.peer, initialCluster: initial,
                           token: "sluice-\(ports[0].peer)")
        }
    }

    /// Whether this member is the cluster's leader now (etcd's maintenance status; false when it
    /// does not answer).
    public func isLeader() async -> Bool {
        var request = URLRequest(url: clientURL.appendingPathComponent("v3/maintenance/status"))
        request.httpMethod = "POST"
        request.httpBody = Data("{}".utf8)
        request.timeoutInterval = 2
        guard let (data, _) = try? await URLSession.shared.data(for: request),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let header = object["header"] as? [String: Any], let me = header["member_id"] as? String,
              let leader = object["leader"] as? String else { return false }
        return me == leader
    }

    /// Starts (again, after `kill()`) on the same ports and data.
    public func launch() throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    public func kill() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    deinit {
        kill()
        try? FileManager.default.removeItem(at: directory)
    }
}

/// A TCP port free on loopback now.
public func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
        }
    }
    guard bound else { throw EtcdServer.Failure("no free port: errno \(errno)") }
    return Int(UInt16(bigEndian: address.sin_port))
}

