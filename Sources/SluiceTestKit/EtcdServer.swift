import Foundation

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

    public init() throws {
        guard let binary = ["/usr/bin/etcd", "/usr/local/bin/etcd"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw Failure("etcd is not installed: scripts/setup.sh --cluster installs etcd-server (apt)")
        }
        self.binary = binary
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-etcd-\(UUID().uuidString)")
        let clientPort = try freePort(), peerPort = try freePort()
        clientURL = URL(string: "http://127.0.0.1:\(clientPort)")!
        let peer = "http://127.0.0.1:\(peerPort)"
        arguments = [
            "--name", "n1", "--data-dir", directory.path,
            "--listen-client-urls", clientURL.absoluteString, "--advertise-client-urls", clientURL.absoluteString,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", "n1=\(peer)",
        ]
        try launch()
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

