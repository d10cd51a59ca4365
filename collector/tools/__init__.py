"""tools: build and support tools — the cluster schema (``cluster``), TypeScript contract
generation (``tsgen``) and the synthetic journey generator (``journeys``) that tests,
benchmarks and demos share."""
