"""RL choice of inference settings at a cost budget (issue 4).

Layers: ``outcomes`` (the cached input × setting table, built by ``build``), ``policies`` (static,
cascade, oracle baselines and the cost–error metrics), ``guidance`` (scaling-law priors),
``env`` (per-input gymnasium environment), ``model_env`` (per-model, AMC-like environment),
``agent`` (REINFORCE with a baseline and a dual-ascent Lagrange multiplier), ``study`` (the whole
comparison the CLI and notebooks report).
"""
