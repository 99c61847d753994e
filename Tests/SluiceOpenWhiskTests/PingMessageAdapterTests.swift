import Foundation
import Testing
import SluiceOpenWhisk
import SluiceProtocol

@Suite("PingMessage -> HELLO / CAPACITY")
struct PingMessageAdapterTests {

    @Test("enabled invoker: every field, its HELLO and its CAPACITY")
    func enabled() throws {
        let ping = try PingMessageAdapter.parse(bytes(pingJSON(isEnabled: true)))
        #expect(ping.instance == 3)
        #expect(ping.invokerID == "invoker3")
        #expect(ping.memoryMB == 2048)
        #expect(ping.uniqueName == "owdev-invoker-3")
        #expect(ping.displayedName == "invoker-3")
        #expect(ping.tags == ["gpu", "ssd"])
        #expect(ping.dedicatedNamespaces == ["tenant-a", "tenant-b"])
        #expect(ping.isEnabled)
        #expect(!ping.drains)

        let hello = ping.hello(slots: 16)
        #expect(hello == InvokerHello(invokerID: "invoker3", memoryMB: 2048, slots: 16, tags: ["gpu", "ssd"],
                                      dedicatedNamespaces: ["tenant-a", "tenant-b"]))
        // The HELLO encodes and decodes (the adapter's values fit §4.1).
        #expect(try Codec.decode(Codec.encode(.invokerHello(hello)), channel: .invokerToBroker) == .invokerHello(hello))

        let capacity = ping.capacityUpdate(slots: 16)
        #expect(capacity == Capacity(memoryMB: 2048, slots: 16))
        #expect(!capacity.drains)
    }

    @Test("disabled invoker: CAPACITY 0 0 drains it")
    func disabled() throws {
        let ping = try PingMessageAdapter.parse(bytes(pingJSON(isEnabled: false)))
        #expect(ping.isEnabled == false)
        #expect(ping.drains)
        let capacity = ping.capacityUpdate(slots: 16)
        #expect(capacity == Capacity(memoryMB: 0, slots: 0))
        #expect(capacity.drains)
        // It still registers with its real capacity; the drain follows.
        #expect(ping.hello(slots: 16) == InvokerHello(invokerID: "invoker3", memoryMB: 2048, slots: 16, tags: ["gpu", "ssd"],
                                                      dedicatedNamespaces: ["tenant-a", "tenant-b"]))
        #expect(try Codec.decode(Codec.encode(.capacity(capacity)), channel: .invokerToBroker) == .capacity(capacity))
    }

    @Test("isEnabled absent (older invokers): enabled")
    func isEnabledAbsent() throws {
        let ping = try PingMessageAdapter.parse(bytes(pingJSON(isEnabled: nil)))
        #expect(ping.isEnabled)
        #expect(ping.capacityUpdate(slots: 4) == Capacity(memoryMB: 2048, slots: 4))
    }

    @Test("minimal older ping: no tags, names or isEnabled")
    func minimalPing() throws {
        let ping = try PingMessageAdapter.parse(bytes(#"{"name":{"instance":0,"userMemory":"1024 MB","instanceType":"invoker"}}"#))
        #expect(ping == InvokerPing(instance: 0, memoryMB: 1024))
        #expect(ping.invokerID == "invoker0")
        #expect(ping.tags == [])
        #expect(ping.dedicatedNamespaces == [])
        #expect(ping.uniqueName == nil)
    }

    @Test("userMemory absent: the caller's default, if any")
    func memoryDefault() throws {
        let json = bytes(#"{"name":{"instance":5}}"#)
        #expect(try PingMessageAdapter.parse(json, defaultMemoryMB: 4096).memoryMB == 4096)
        expectError(field: "name.userMemory", problemContains: "missing") { _ = try PingMessageAdapter.parse(json) }
    }

    @Test("userMemory variants", arguments: [
        (#""2048 MB""#, UInt32(2048)),
        (#""2 GB""#, 2048),
        (#""2048 M""#, 2048),
        (#""2G""#, 2048),
        (#""2gb""#, 2048),
        (#""1024mb""#, 1024),
        (#""2147483648 B""#, 2048),
        (#""2097152 KB""#, 2048),
        (#""2097152 K""#, 2048),
        (#"" 512 MB ""#, 512),
        (#""768""#, 768),
        ("4096", 4096),
    ])
    func memoryVariants(raw: String, expected: UInt32) throws {
        let ping = try PingMessageAdapter.parse(bytes(pingJSON(userMemory: raw)))
        #expect(ping.memoryMB == expected)
    }

    @Test("byte sizes")
    func byteSizes() {
        #expect(PingMessageAdapter.megabytes(fromByteSize: "2048 MB") == 2048)
        #expect(PingMessageAdapter.megabytes(fromByteSize: "3 G") == 3072)
        #expect(PingMessageAdapter.megabytes(fromByteSize: "1048575 B") == 0)  // under 1 MB rounds down
        #expect(PingMessageAdapter.megabytes(fromByteSize: "4194304 GB") == nil)  // 4 PiB: past UInt32 MB
        #expect(PingMessageAdapter.megabytes(fromByteSize: "2 TB") == nil)
        #expect(PingMessageAdapter.megabytes(fromByteSize: "MB") == nil)
        #expect(PingMessageAdapter.megabytes(fromByteSize: "-1 MB") == nil)
        #expect(PingMessageAdapter.megabytes(fromByteSize: "1.5 GB") == nil)
        #expect(PingMessageAdapter.megabytes(fromByteSize: "") == nil)
    }

    @Test("slots 0 is raised to 1 so the messages stay valid")
    func zeroSlots() throws {
        let ping = try PingMessageAdapter.parse(bytes(pingJSON()))
        #expect(ping.hello(slots: 0).slots == 1)
        #expect(ping.capacityUpdate(slots: 0) == Capacity(memoryMB: 2048, slots: 1))
    }

    @Test("Data input")
    func dataInput() throws {
        #expect(try PingMessageAdapter.parse(Data(pingJSON().utf8)) == PingMessageAdapter.parse(bytes(pingJSON())))
    }
}
