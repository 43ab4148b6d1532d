"""Reviewing a score: the panel where the pathologist accepts or overrides the suggested score, saved in
the project database."""
