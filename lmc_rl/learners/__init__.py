"""Learners as batched populations: layers, agents (SAC, TD3, DDPG), optimizer, matmul routing,
and the member-independence check. May import: config, records.
"""
