"""Studio Brain runtime and state: config contract, logging, health, jobs, StudioState."""
