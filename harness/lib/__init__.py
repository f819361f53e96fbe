"""loopbench harness library: process control, captures, runner, plots, report.

Python 3 standard library only (Debian's /usr/bin/python3); gnuplot draws every figure.
"""
