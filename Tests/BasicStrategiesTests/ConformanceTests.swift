import SluicePluginAPI
import SluiceStrategyLeastLoaded
import SluiceStrategyPowerOfTwo
import SluiceStrategyRandom
import SluiceStrategyRoundRobin
import SluiceTestKit
import Testing

// The direct strategy does not run the suite: the suite expects `.wait` when nothing fits,
// but `direct` answers every request without a target invoker `.reject` (the broker core
// places targeted requests before asking a strategy). DirectTests checks it instead.

@Test func leastLoadedConforms() {
    StrategyConformance.check(LeastLoadedStrategy.factory)
}

@Test func roundRobinConforms() {
    StrategyConformance.check(RoundRobinStrategy.factory)
}

@Test func randomConforms() {
    StrategyConformance.check(RandomStrategy.factory)
    StrategyConformance.check(RandomStrategy.factory, parameters: ["seed": "0"])
    StrategyConformance.check(RandomStrategy.factory, parameters: ["seed": "\(Int.max)"])
}

@Test func powerOfTwoConforms() {
    StrategyConformance.check(PowerOfTwoStrategy.factory)
    StrategyConformance.check(PowerOfTwoStrategy.factory, parameters: ["choices": "1", "seed": "7"])
    StrategyConformance.check(PowerOfTwoStrategy.factory, parameters: ["choices": "3"])
    StrategyConformance.check(PowerOfTwoStrategy.factory, parameters: ["choices": "16", "seed": "42"])
}
