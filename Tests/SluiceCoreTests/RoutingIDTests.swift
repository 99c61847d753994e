import Testing
import SluiceCore

// Routing ids are kept in place up to 16 bytes and in an array beyond: every length must keep
// its bytes, and equal bytes must be equal ids with equal hashes whichever way they were made.

@Suite("RoutingID (in place up to 16 bytes)")
struct RoutingIDTests {
    @Test("bytes survive at every length from 0 to 255, made from an array or from a buffer")
    func roundTrip() {
        for length in 0...255 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ length) }
            let fromArray = RoutingID(bytes)
            let fromBuffer = bytes.withUnsafeBytes { RoutingID($0) }
            #expect(fromArray.bytes == bytes, "length \(length)")
            #expect(fromBuffer.bytes == bytes, "length \(length)")
            #expect(fromArray == fromBuffer, "length \(length)")
            #expect(fromArray.hashValue == fromBuffer.hashValue, "length \(length)")
            #expect(fromArray.withUnsafeBytes { Array($0) } == bytes, "length \(length)")
        }
    }

    @Test("ids that differ in one byte, in length, or only by trailing zero bytes are different keys")
    func distinct() {
        let base: [UInt8] = [0, 0x80, 0, 0, 0x29]  // a libzmq-made routing id
        var ids: [RoutingID] = [RoutingID(base), RoutingID(base + [0]), RoutingID(Array(base.dropLast())),
                                RoutingID([]), RoutingID([0]), RoutingID(Array(repeating: 0, count: 16)),
                                RoutingID(Array(repeating: 0, count: 17))]
        for index in base.indices {
            var changed = base
            changed[index] ^= 1
            ids.append(RoutingID(changed))
        }
        var long = Array(repeating: UInt8(7), count: 40)
        ids.append(RoutingID(long))
        long[39] = 8
        ids.append(RoutingID(long))
        #expect(Set(ids).count == ids.count)
        var byID: [RoutingID: Int] = [:]
        for (n, id) in ids.enumerated() { byID[id] = n }
        for (n, id) in ids.enumerated() { #expect(byID[RoutingID(id.bytes)] == n) }
    }

    @Test("description is the bytes in hex")
    func description() {
        #expect(RoutingID([0, 0x80, 0x0a, 0xff]).description == "00800aff")
        #expect(RoutingID(Array(repeating: 0xab, count: 20)).description == String(repeating: "ab", count: 20))
    }
}
