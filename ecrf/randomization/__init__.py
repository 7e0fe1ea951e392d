"""Randomization lists (permuted blocks, stratified) and atomic allocation."""
