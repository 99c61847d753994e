import SluicePluginAPI

/// Seeded draws for the simulator: uniform, normal, lognormal and Poisson, on top of the
/// strategies' SplitMix64 (`SeededGenerator`), so a seed fixes every number a run produces.
public struct SimulationRandom: Sendable {
    private var generator: SeededGenerator

    public init(seed: UInt64) { generator = SeededGenerator(seed: seed) }

    /// Uniform in [0, 1), 53 bits.
    public mutating func uniform() -> Double { Double(generator.next() >> 11) * 0x1p-53 }

    /// Uniform in 0..<count (count > 0).
    public mutating func index(below count: Int) -> Int { min(Int(uniform() * Double(count)), count - 1) }

    /// Uniform in `range` (the lower bound when the range is a single point).
    public mutating func uniform(in range: ClosedRange<Double>) -> Double {
        range.lowerBound + (range.upperBound - range.lowerBound) * uniform()
    }

    /// Standard normal (Box-Muller; one of the pair is dropped, which keeps the stream simple).
    public mutating func normal() -> Double {
        let u1 = max(uniform(), 0x1p-60)
        let u2 = uniform()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }

    public mutating func lognormal(mu: Double, sigma: Double) -> Double { exp(mu + sigma * normal()) }

    /// Poisson with mean `lambda`: Knuth's product method up to 30, a rounded normal above.
    public mutating func poisson(_ lambda: Double) -> Int {
        guard lambda > 0 else { return 0 }
        if lambda < 30 {
            let limit = exp(-lambda)
            var product = uniform()
            var count = 0
            while product > limit {
                product *= uniform()
                count += 1
            }
            return count
        }
        return max(0, Int((lambda + lambda.squareRoot() * normal()).rounded()))
    }

    public mutating func int(below bound: Int) -> Int { Int(generator.next() % UInt64(max(bound, 1))) }
}

// Glibc/Darwin math without Foundation.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#elseif canImport(Musl)
import Musl
#endif
