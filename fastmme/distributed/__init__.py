"""Partitioned (Dask) input: the row passes on a cluster; returns summed blocks and a row-free
specification, never a Model (fastmme.api makes it).
"""
