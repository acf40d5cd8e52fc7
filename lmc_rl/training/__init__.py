"""Training a population: trainer and lockstep, forks, replay, member envs, random streams,
checkpoints, batched evaluation, agent files. May import: config, records, learners.
"""
