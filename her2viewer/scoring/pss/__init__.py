"""The Pyramid-Sampling-Set scorer: sampler, KCS protocol and the `pss` scorer."""
