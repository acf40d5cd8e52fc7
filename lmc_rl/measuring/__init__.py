"""Measuring paths between agents: interpolation, instability evaluation, barrier statistics,
fork results, weight matching, render. May import: config, records, learners, training.
"""
