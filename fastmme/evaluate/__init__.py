"""Stage 4, evaluation: ProfiledDeviance (objective) assembles once, chooses an evaluator by a cost
model and delegates every per-θ operation to it through one protocol (evaluators: the dense Schur
complement, schur; the sparse factor, system); the AI matrix (information) and the sparse gradient.
"""
