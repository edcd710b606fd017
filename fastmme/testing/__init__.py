"""Oracles: the dense n × n GLS criterion (dense; public as fastmme.dense), the tests' second oracle.
"""
