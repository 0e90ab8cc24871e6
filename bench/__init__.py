"""The benchmark harness behind `make bench` and `make bench-scale`; see README.md."""
