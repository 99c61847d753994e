/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, initial value and final XOR
/// 0xFFFFFFFF), the checksum of every disk overflow record. Table driven, slicing by 8.
///
/// Check value: `checksum(Array("123456789".utf8)) == 0xE3069283`.
public enum CRC32C {
    /// table[k * 256 + b]: the CRC contribution of byte b followed by k zero bytes.
    static let table: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 8 * 256)
        for byte in 0..<256 {
            var crc = UInt32(byte)
            for _ in 0..<8 {
                crc = crc & 1 != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1
            }
            table[byte] = crc
        }
        for byte in 0..<256 {
            var crc = table[byte]
            for slice in 1..<8 {
                crc = table[Int(crc & 0xFF)] ^ (crc >> 8)
                table[slice * 256 + byte] = crc
            }
        }
        return table
    }()

    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }

    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        update(0, bytes)
    }

    /// Continues `crc` (a finished checksum of earlier bytes, 0 for none) over `bytes`.
    public static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var state = ~crc
        let count = bytes.count
        guard count > 0, let base = bytes.baseAddress else { return crc }
        let input = base.assumingMemoryBound(to: UInt8.self)
        table.withUnsafeBufferPointer { table in
            var position = 0
            while count - position >= 8 {
                let low: UInt32 = UInt32(input[position]) | UInt32(input[position + 1]) << 8
                    | UInt32(input[position + 2]) << 16 | UInt32(input[position + 3]) << 24
                let high: UInt32 = UInt32(input[position + 4]) | UInt32(input[position + 5]) << 8
                    | UInt32(input[position + 6]) << 16 | UInt32(input[position + 7]) << 24
                let mixed = state ^ low
                let first: UInt32 = table[7 * 256 + Int(mixed & 0xFF)] ^ table[6 * 256 + Int((mixed >> 8) & 0xFF)]
                let second: UInt32 = table[5 * 256 + Int((mixed >> 16) & 0xFF)] ^ table[4 * 256 + Int(mixed >> 24)]
                let third: UInt32 = table[3 * 256 + Int(high & 0xFF)] ^ table[2 * 256 + Int((high >> 8) & 0xFF)]
                let fourth: UInt32 = table[1 * 256 + Int((high >> 16) & 0xFF)] ^ table[Int(high >> 24)]
                state = first ^ second ^ third ^ fourth
                position += 8
            }
            while position < count {
                state = table[Int((state ^ UInt32(input[position])) & 0xFF)] ^ (state >> 8)
                position += 1
            }
        }
        return ~state
    }
}
