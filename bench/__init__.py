"""faxd's benchmarks (make bench): each bench_*.py has main(argv) and prints ratios and medians."""
