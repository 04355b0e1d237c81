"""The unrolled (torch) half of llrr: LLRR blocks built from :mod:`solvers` problems, the LLRR network and LRRNet.

Arrives with the unrolled/LRRNet issue.
"""
