// Replaced by the strategy implementation.
