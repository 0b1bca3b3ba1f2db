namespace Qmix.Benchmarks

/// Names this assembly for BenchmarkSwitcher.
type Marker = class end
