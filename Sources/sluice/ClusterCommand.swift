import ArgumentParser
import Foundation
import SluiceCluster
import SluiceEtcd

struct ClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Look at a Sluice cluster in etcd (docs/CLUSTER.md).",
        subcommands: [ClusterStatusCommand.self]
    )
}

struct ClusterStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "List a cluster's brokers and their invokers, as etcd has them.",
        discussion: """
            Reads /sluice/<cluster>/brokers/ and /sluice/<cluster>/invokers/ from etcd: one row \
            per broker (its state, endpoints, incarnation, invokers and slots it reported), then \
            the invokers each broker holds. A broker that died stays listed until its lease \
            expires (cluster.lease-ttl, 3 s by default). Exit status 1 if etcd cannot be reached.
            """
    )

    @Option(help: "The cluster's name.")
    var cluster: String

    @Option(help: ArgumentHelp("etcd client URLs, comma separated.", valueName: "urls"))
    var etcd = "http://127.0.0.1:2379"

    @Flag(help: "Print JSON: the brokers' records as stored.")
    var json = false

    func run() async throws {
        let client: EtcdClient
        do {
            client = try EtcdClient(etcd, timeout: .seconds(3))
        } catch {
            throw ValidationError(error.description)
        }
        let brokers: [EtcdKeyValue]
        let invokers: [EtcdKeyValue]
        do {
            brokers = try await client.range(prefix: "/sluice/\(cluster)/brokers/")
            invokers = try await client.range(prefix: "/sluice/\(cluster)/invokers/")
        } catch {
            FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
            throw ExitCode.failure
        }
        if json {
            print("[" + brokers.map(\.value).joined(separator: ",\n") + "]")
            return
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let records = brokers.compactMap { try? decoder.decode(BrokerRecord.self, from: Data($0.value.utf8)) }
        print("cluster \(cluster): \(records.count) broker\(records.count == 1 ? "" : "s") (etcd \(etcd))")
        guard !records.isEmpty else { return }
        let rows = [["BROKER", "STATE", "INVOKERS", "SLOTS", "CONTROLLERS", "INVOKER ENDPOINT", "MONITOR", "INCARNATION"]]
            + records.map { [$0.id, $0.state.rawValue, "\($0.invokers)", "\($0.slots)", $0.controllerEndpoint, $0.invokerEndpoint,
                             $0.monitorEndpoint ?? "-", $0.incarnation] }
        var widths = rows[0].map(\.count)
        for row in rows { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
        for row in rows {
            print(row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  "))
        }
        let prefix = "/sluice/\(cluster)/invokers/"
        let byBroker = Dictionary(grouping: invokers, by: \.value)
        for (broker, owned) in byBroker.sorted(by: { $0.key < $1.key }) {
            print("\(broker) holds: \(owned.map { String($0.key.dropFirst(prefix.count)) }.sorted().joined(separator: ", "))")
        }
    }
}
