"""`make bench`: bounded benchmarks that print a table and write bench/results/latest.json."""
