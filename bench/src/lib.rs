//! Benchmarks and load generators for fleetboot (see bench/README).
