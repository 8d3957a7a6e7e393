"""The pure core: data types and functions with no I/O, no clock reads, no frameworks."""
