import SluiceOverflowDisk
import SluicePluginAPI
import SluiceTestKit
import Testing

@Test func memoryStoreConforms() {
    OverflowStoreConformance.check({ MemoryOverflowStore() })
}

@Test func diskStoreConforms() {
    let configurations: [(segmentBytes: Int, policy: FsyncPolicy)] = [
        (64 * 1024 * 1024, .everyBatch),
        // Small segments: many files, records bigger than a segment, reclaiming in between.
        (4096, .never),
        (64 * 1024, .interval(milliseconds: 5)),
    ]
    for configuration in configurations {
        let directory = temporaryDirectory("conformance")
        defer { removeDirectory(directory) }
        OverflowStoreConformance.check(
            { try DiskOverflowStore(directory: directory, segmentBytes: configuration.segmentBytes, fsync: configuration.policy) },
            reopen: { try DiskOverflowStore(directory: directory, segmentBytes: configuration.segmentBytes, fsync: configuration.policy) }
        )
    }
}
