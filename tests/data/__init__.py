"""Dataset loader tests and the tiny-dataset fixture writers other tests reuse."""
