// swift-tools-version:6.1
import PackageDescription

// Module graph (one-way, see docs/ARCHITECTURE.md):
//   CZeroMQ -> ZeroMQ ----------------------------+-> SluiceBroker -> sluice
//   SluiceProtocol -> SluicePluginAPI -> SluiceCore +-> SluiceClient
//                          +-> Plugins/*
/// The broker's hot path crosses modules (ZeroMQ -> SluiceTransport -> SluiceCore, generic over
/// the payload frame -> SluiceBroker). The core and the codec are specialized for the broker's
/// frame types inside their own modules (`@_specialize`), so no unsafe flag is needed and the
/// package can be used as a versioned dependency (scripts/consumer-check.sh). Setting
/// SLUICE_CROSS_MODULE_OPTIMIZATION=1 adds -cross-module-optimization to release builds, to
/// compare (docs/PERFORMANCE.md); SwiftPM refuses such a package as a versioned dependency.
let hotPath: [SwiftSetting] = Context.environment["SLUICE_CROSS_MODULE_OPTIMIZATION"] == "1"
    ? [.unsafeFlags(["-cross-module-optimization"], .when(configuration: .release))] : []

let package = Package(
    name: "sluice",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sluice", targets: ["sluice"]),
        .library(name: "ZeroMQ", targets: ["ZeroMQ"]),
        .library(name: "SluiceProtocol", targets: ["SluiceProtocol"]),
        .library(name: "SluicePluginAPI", targets: ["SluicePluginAPI"]),
        .library(name: "SluiceCore", targets: ["SluiceCore"]),
        .library(name: "SluiceBroker", targets: ["SluiceBroker"]),
        .library(name: "SluiceClient", targets: ["SluiceClient"]),
        .library(name: "SluiceTestKit", targets: ["SluiceTestKit"]),
        .library(name: "SluiceOpenWhisk", targets: ["SluiceOpenWhisk"]),
        .library(name: "SluiceMessaging", targets: ["SluiceMessaging"]),
        // An external strategy plugin, loaded by `sluice broker --plugin`.
        .library(name: "SluiceFirstFitPlugin", type: .dynamic, targets: ["SluiceFirstFitPlugin"]),
        // Test fixture: a plugin built for a plugin API version this broker does not speak.
        .library(name: "SluiceBadVersionPlugin", type: .dynamic, targets: ["SluiceBadVersionPlugin"]),
        // Test fixture: a plugin that counts calls made off the broker's loop thread.
        .library(name: "SluiceThreadCheckPlugin", type: .dynamic, targets: ["SluiceThreadCheckPlugin"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        // 1.16: `LogHandler.log(event:)` (the JSON log handler implements it).
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.1.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        // Configuration file (YAML) with environment overrides; Yams to reject unknown keys.
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.4.0", traits: ["YAML", "Reloading"]),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.0.0"),
        // FilePath for the configuration file provider (already in the graph through swift-configuration).
        .package(url: "https://github.com/apple/swift-system.git", from: "1.5.0"),
        // Monitoring (docs/OPERATIONS.md): metrics API, Prometheus exposition, and the HTTP/1
        // server of the monitoring endpoint (SwiftNIO alone: Hummingbird would build twice as much).
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.1.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0"),
    ],
    targets: [
        // libzmq through Debian's libzmq3-dev. The module map links `zmq` directly: Debian's
        // libzmq.pc carries an -isystem flag SwiftPM warns about.
        .systemLibrary(
            name: "CZeroMQ",
            providers: [.apt(["libzmq3-dev"])]
        ),
        .target(name: "ZeroMQ", dependencies: ["CZeroMQ"], swiftSettings: hotPath),
        // The C entry point of external routing-strategy plugins (header only).
        .target(name: "CSluicePlugin"),
        .target(name: "SluiceProtocol", swiftSettings: hotPath),
        .target(name: "SluicePluginAPI", dependencies: ["SluiceProtocol"], swiftSettings: hotPath),
        // Glue shared by the broker and the clients: SLU/1 messages as ZeroMQ frames.
        .target(name: "SluiceTransport", dependencies: ["ZeroMQ", "SluiceProtocol"], swiftSettings: hotPath),
        .target(
            name: "SluiceStrategyLeastLoaded",
            dependencies: ["SluicePluginAPI"],
            path: "Plugins/LeastLoaded",
            swiftSettings: hotPath
        ),
        .target(name: "SluiceStrategyRoundRobin", dependencies: ["SluicePluginAPI"], path: "Plugins/RoundRobin"),
        .target(name: "SluiceStrategyRandom", dependencies: ["SluicePluginAPI"], path: "Plugins/Random"),
        .target(name: "SluiceStrategyPowerOfTwo", dependencies: ["SluicePluginAPI"], path: "Plugins/PowerOfTwo"),
        .target(name: "SluiceStrategyDirect", dependencies: ["SluicePluginAPI"], path: "Plugins/Direct"),
        .target(name: "SluiceStrategyOpenWhiskSharding", dependencies: ["SluicePluginAPI"], path: "Plugins/OpenWhiskSharding"),
        .target(name: "SluiceStrategyConsistentHash", dependencies: ["SluicePluginAPI"], path: "Plugins/ConsistentHash"),
        .target(name: "SluiceStrategyWarmAffinity", dependencies: ["SluicePluginAPI"], path: "Plugins/WarmAffinity"),
        .target(name: "SluiceOverflowDisk", dependencies: ["SluicePluginAPI", "SluiceProtocol"], path: "Plugins/DiskOverflow"),
        // OpenWhisk JSON (ActivationMessage, acknowledgements, PingMessage) <-> Sluice values.
        .target(name: "SluiceOpenWhisk", dependencies: ["SluiceProtocol"]),
        .target(
            name: "SluiceBench",
            dependencies: [
                "ZeroMQ", "SluiceProtocol", "SluiceTransport",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        .target(
            name: "SluiceMessaging",
            dependencies: [
                "SluiceClient", "SluiceOpenWhisk", "SluiceProtocol",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Conformance suite every routing strategy runs in its own tests.
        .target(name: "SluiceTestKit", dependencies: ["SluicePluginAPI", "SluiceProtocol"]),
        .target(
            name: "SluiceCore",
            dependencies: [
                "SluiceProtocol",
                "SluicePluginAPI",
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: hotPath
        ),
        // The built-in strategies' registry, in one place for the broker and the simulator.
        .target(
            name: "SluiceStrategies",
            dependencies: [
                "SluicePluginAPI",
                "SluiceStrategyLeastLoaded", "SluiceStrategyRoundRobin", "SluiceStrategyRandom", "SluiceStrategyPowerOfTwo",
                "SluiceStrategyDirect", "SluiceStrategyOpenWhiskSharding", "SluiceStrategyConsistentHash",
                "SluiceStrategyWarmAffinity",
            ]
        ),
        // Discrete-event placement simulator: the real BrokerCore on a virtual clock, with modelled
        // invokers (docs/PLACEMENT.md). No ZeroMQ.
        // The placement-trace format: written by the broker, read by `sluice simulate --trace`
        // and `sluice trace inspect` (docs/TRACES.md). No dependencies.
        .target(name: "SluiceTrace"),
        .target(
            name: "SluiceSimulator",
            dependencies: [
                "SluiceCore", "SluicePluginAPI", "SluiceProtocol", "SluiceStrategies", "SluiceStrategyOpenWhiskSharding", "SluiceTrace",
                .product(name: "HeapModule", package: "swift-collections"),
            ]
        ),
        // The monitoring endpoint: /metrics, /healthz, /readyz, /status over HTTP/1, off the loop
        // thread, reading what the loop publishes (docs/OPERATIONS.md).
        .target(
            name: "SluiceMonitor",
            dependencies: [
                "SluiceCore", "SluicePluginAPI", "SluiceProtocol", "SluiceHTTP",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // etcd's v3 JSON gateway over Foundation's URLSession, for cluster membership (docs/CLUSTER.md).
        // HTTP/1.1 requests over SwiftNIO: the etcd client's and `sluice status`'s.
        .target(
            name: "SluiceHTTP",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .target(
            name: "SluiceEtcd",
            dependencies: [
                "SluiceHTTP",
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // A broker's membership in a cluster, kept in etcd (docs/CLUSTER.md).
        .target(name: "SluiceCluster", dependencies: ["SluiceEtcd"]),
        .target(
            name: "SluiceBroker",
            dependencies: [
                "SluiceMonitor",
                "SluiceCluster",
                "SluiceEtcd",
                "ZeroMQ",
                "SluiceProtocol",
                "SluiceTransport",
                "SluiceCore",
                "SluicePluginAPI",
                "CSluicePlugin",
                "SluiceStrategies",
                "SluiceTrace",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: hotPath
        ),
        .target(
            name: "SluiceClient",
            dependencies: [
                "ZeroMQ",
                "SluiceProtocol",
                "SluiceTransport",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "sluice",
            dependencies: [
                "CZeroMQ",
                "ZeroMQ",
                "SluiceBench",
                "SluiceBroker",
                "SluiceCore",
                "SluiceOpenWhisk",
                "SluicePluginAPI",
                "SluiceOverflowDisk",
                "SluiceProtocol",
                "SluiceSimulator",
                "SluiceStrategies",
                "SluiceMonitor",
                "SluiceTransport",
                "SluiceTrace",
                "SluiceCluster",
                "SluiceEtcd",
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "sluice-example-invoker",
            dependencies: [
                "SluiceClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Examples/ExampleInvoker"
        ),
        .executableTarget(
            name: "sluice-example-controller",
            dependencies: [
                "SluiceClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Examples/ExampleController"
        ),
        .executableTarget(
            name: "sluice-ow-controller",
            dependencies: [
                "SluiceClient",
                "SluiceOpenWhisk",
                "SluiceProtocol",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Examples/OpenWhiskLike/Controller"
        ),
        .executableTarget(
            name: "sluice-ow-invoker",
            dependencies: [
                "SluiceClient",
                "SluiceOpenWhisk",
                "SluiceProtocol",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Examples/OpenWhiskLike/Invoker"
        ),
        .target(name: "SluiceFirstFitPlugin", dependencies: ["CSluicePlugin"], path: "Examples/FirstFitPlugin"),
        .target(name: "SluiceBadVersionPlugin", dependencies: ["CSluicePlugin"], path: "Tests/Fixtures/BadVersionPlugin"),
        .target(name: "SluiceThreadCheckPlugin", dependencies: ["CSluicePlugin"], path: "Tests/Fixtures/ThreadCheckPlugin"),
        .testTarget(name: "ZeroMQTests", dependencies: ["ZeroMQ"]),
        .testTarget(name: "SluiceProtocolTests", dependencies: ["SluiceProtocol"]),
        .testTarget(name: "SluiceEtcdTests", dependencies: ["SluiceEtcd", "SluiceCluster", "SluiceTestKit"]),
        .testTarget(
            name: "SluiceMonitorTests",
            dependencies: ["SluiceMonitor", "SluiceCore", "SluicePluginAPI", "SluiceProtocol", "SluiceStrategyLeastLoaded", "SluiceTestKit",
                           .product(name: "Logging", package: "swift-log"), .product(name: "Prometheus", package: "swift-prometheus")]
        ),
        .testTarget(
            name: "SluiceCoreTests",
            dependencies: ["SluiceCore", "SluicePluginAPI", "SluiceProtocol", "SluiceStrategyLeastLoaded", "SluiceStrategies"]
        ),
        .testTarget(
            name: "BasicStrategiesTests",
            dependencies: ["SluiceTestKit", "SluicePluginAPI", "SluiceProtocol", "SluiceStrategyLeastLoaded",
                           "SluiceStrategyRoundRobin", "SluiceStrategyRandom", "SluiceStrategyPowerOfTwo", "SluiceStrategyDirect"]
        ),
        .testTarget(
            name: "HashStrategiesTests",
            dependencies: ["SluiceTestKit", "SluicePluginAPI", "SluiceProtocol",
                           "SluiceStrategyOpenWhiskSharding", "SluiceStrategyConsistentHash"]
        ),
        .testTarget(
            name: "OverflowStoreTests",
            dependencies: ["SluiceTestKit", "SluicePluginAPI", "SluiceProtocol", "SluiceOverflowDisk"]
        ),
        .testTarget(name: "SluiceOpenWhiskTests", dependencies: ["SluiceOpenWhisk", "SluiceProtocol"]),
        .testTarget(
            name: "WarmAffinityTests",
            dependencies: ["SluiceTestKit", "SluicePluginAPI", "SluiceProtocol", "SluiceStrategyWarmAffinity"]
        ),
        .testTarget(name: "SluiceSimulatorTests", dependencies: ["SluiceSimulator", "SluiceCore", "SluicePluginAPI", "SluiceProtocol", "SluiceStrategies", "SluiceTrace"]),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "SluiceClient", "ZeroMQ", "SluiceProtocol", "SluiceBroker", "SluiceTestKit", "SluiceMessaging", "SluiceOpenWhisk",
                "SluiceCore", "SluicePluginAPI", "SluiceOverflowDisk", "SluiceStrategies", "SluiceMonitor", "SluiceEtcd",
                "SluiceTrace", "SluiceSimulator", "SluiceBench",
                .product(name: "Logging", package: "swift-log"),
                "sluice", "sluice-example-invoker", "sluice-ow-invoker", "sluice-ow-controller",
            ]
        ),
    ]
)
