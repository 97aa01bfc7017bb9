"""RL choice of inference settings at a cost budget (issue 4).

Layers: ``outcomes`` (the cached input × setting table, built by ``build``), ``policies`` (static,
cascade, oracle baselines and the cost–error metrics), ``guidance`` (scaling-law priors),
``ladder`` (the cascade's rungs and per-state law predictions), ``cascade_env`` (the cascade as a
gymnasium env and a numpy vector env), ``cascade_agent`` (REINFORCE with a baseline and a
dual-ascent Lagrange multiplier), ``env``/``agent`` (the earlier one-shot per-input bandit, kept for
comparison), ``study`` (the whole comparison the CLI and notebooks report). Per model (AMC / HAQ):
``amc_env`` (per-layer density and precision of one deeper student under a FLOPs budget, clamped;
gymnasium env + vectorised rollout), ``amc_agent`` (REINFORCE over per-layer choices), ``amc_study``
(agent vs uniform pruning / quantization at matched FLOPs on held-out inputs).
"""
