"""Neural MPO components (monotone networks), their ES search, and distillation into closed forms."""
