"""The pipeline driver: `make demo` runs every stage in order (`python -m pipeline.demo`)."""
