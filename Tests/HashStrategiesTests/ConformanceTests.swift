import SluicePluginAPI
import SluiceStrategyConsistentHash
import SluiceStrategyOpenWhiskSharding
import SluiceTestKit
import Testing

@Test func openWhiskShardingConforms() {
    StrategyConformance.check(OpenWhiskShardingStrategy.factory, allowsForce: true)
    StrategyConformance.check(OpenWhiskShardingStrategy.factory, parameters: ["seed": "42", "controllers": "2"], allowsForce: true)
}

@Test func openWhiskShardingWithoutForcingConforms() {
    StrategyConformance.check(OpenWhiskShardingStrategy.factory, parameters: ["force-when-full": "false"])
}

@Test func consistentHashConforms() {
    StrategyConformance.check(ConsistentHashStrategy.factory)
    StrategyConformance.check(ConsistentHashStrategy.factory, parameters: ["virtual-nodes": "1", "load-factor": "1.0"])
    StrategyConformance.check(ConsistentHashStrategy.factory, parameters: ["virtual-nodes": "1000", "load-factor": "10"])
}
