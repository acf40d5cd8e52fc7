"""An experiment's phases (train, measure, analyze), the start-up check, connecting two agents.
May import: config, records, learners, training, measuring, analysis.
"""
