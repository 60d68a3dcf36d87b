"""churnml benchmarks: ``python -m benchmarks`` rewrites benchmarks/RESULTS.md."""
