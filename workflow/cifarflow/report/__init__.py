"""Reporting: figures (plots), tables, comparison figures across runs, results/summary.md."""
