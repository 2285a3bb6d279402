"""Turning finished studies into numbers (summaries), figures (plots) and reports."""
