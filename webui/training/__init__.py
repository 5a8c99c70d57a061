"""LoRA training: a validated spec, SDXL buckets, the in-process trainer and the kohya file."""
