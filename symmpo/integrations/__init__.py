"""Using discovered losses in other trainers (``symmpo.integrations.trl``: TRL's DPOTrainer)."""
