#!/usr/bin/env bash
# Builds a tiny separate package that depends on Sluice by version, the way a user's project
# would (issue 13, item 15): a clone of this repository's HEAD, tagged with a version, named by
# a file URL. SwiftPM refuses a versioned dependency whose targets use unsafe flags, so this
# fails if Package.swift ever brings them back. The consumer uses SluiceClient, SluiceTestKit
# and SluiceMessaging, the products meant for other people's code.
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

git clone -q . "$work/sluice"
git -C "$work/sluice" -c user.name=ci -c user.email=ci@localhost tag -a 0.1.0 -m "consumer check" >/dev/null
mkdir -p "$work/consumer/Sources/consumer"
cat > "$work/consumer/Package.swift" <<EOF
// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "consumer",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "file://$work/sluice", from: "0.1.0"),
    ],
    targets: [
        .executableTarget(
            name: "consumer",
            dependencies: [
                .product(name: "SluiceClient", package: "sluice"),
                .product(name: "SluiceMessaging", package: "sluice"),
                .product(name: "SluiceTestKit", package: "sluice"),
                .product(name: "SluicePluginAPI", package: "sluice"),
                .product(name: "SluiceProtocol", package: "sluice"),
            ]
        ),
    ]
)
EOF
cat > "$work/consumer/Sources/consumer/main.swift" <<'EOF'
import SluiceClient
import SluiceMessaging
import SluicePluginAPI
import SluiceProtocol
import SluiceTestKit

// Compiles against the public API only; running it needs no broker.
let header = RoutingHeader(activationID: "consumer-1", namespace: "guest", action: "guest/hello")
let store = FailingOverflowStore()
let sequence = try store.append(header, payload: [1, 2, 3], enqueuedAtMilliseconds: 0)
print("consumer built against Sluice by version: \(header.activationID), store sequence \(sequence), client \(ControllerClient.self)")
EOF
echo "consumer-check: building a package that depends on Sluice 0.1.0 by file URL"
(cd "$work/consumer" && swift build -q 2>&1 | tail -20 && swift run -q consumer)
